package ir

// Source says what produces a named input of a pipeline: a dataset, or an
// output of a feature step.
type Source struct {
	Dataset string // name of the dataset, or ""
	Feature string // name of the feature step, or ""
	Output  string // name of the feature output
}

// Sources maps every name a step may read to what produces it. A name
// declared twice maps to its first producer (datasets first, then feature
// steps in name order); the checker reports the duplicate.
func (p *Pipeline) Sources() map[string]Source {
	m := make(map[string]Source, len(p.Data)+len(p.Features))
	for _, name := range SortedKeys(p.Data) {
		m[name] = Source{Dataset: name}
	}
	for _, step := range SortedKeys(p.Features) {
		for _, out := range p.Features[step].Outputs {
			if _, dup := m[out]; !dup {
				m[out] = Source{Feature: step, Output: out}
			}
		}
	}
	return m
}

// GPUs returns the total number of GPUs of a training run.
func (c Compute) GPUs() int { return c.Nodes * c.GPUsPerNode }

// HoldsPII reports whether a dataset holds personal data: it is marked pii,
// or one of its columns is.
func (d *Dataset) HoldsPII() bool {
	if d.PII {
		return true
	}
	for _, c := range d.Columns {
		if c.PII {
			return true
		}
	}
	return false
}
