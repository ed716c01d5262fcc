package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"cairn.dev/cairn/compiler/emit"
)

// ANSI colors, as git diff uses them.
const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

// signs mark added, removed and changed objects and fields.
var signs = map[string]string{Added: "+", Removed: "-", Changed: "~"}

// colors of the sign lines.
var colors = map[string]string{Added: green, Removed: red, Changed: yellow}

// Text writes the plan for people. Each object added, removed or changed
// gets a header line, "~ WorkflowTemplate payments-ml/fraud" (+ added,
// - removed, ~ changed), and for a changed one each field's path followed
// by its old value on lines starting "-" and its new value on lines
// starting "+", in YAML. The signs stand in the first column, so the text
// reads as a diff (a ```diff block in a pull request comment colors it).
// Then come the summary lines: "templates changed: N", one "schedule
// moved: ns/pipeline: before -> after" per CronWorkflow, one "image
// changed: ns/pipeline/template: before -> after" per template, and
// "GPU-hours per run: a -> b" and "cost per run: $a -> $b" when either
// side is not zero. A plan that changes nothing writes "no changes". With
// color, lines are colored with ANSI codes like git diff: removals red,
// additions green, changed objects yellow. The output depends only on
// the plan.
func (p *Plan) Text(w io.Writer, color bool) error {
	var b bytes.Buffer
	line := func(c, s string) {
		if color && c != "" {
			b.WriteString(c + s + reset + "\n")
		} else {
			b.WriteString(s + "\n")
		}
	}
	if p.Empty() {
		line("", "no changes")
		_, err := w.Write(b.Bytes())
		return err
	}
	for _, o := range p.Objects {
		line(colors[o.Change], fmt.Sprintf("%s %s %s/%s", signs[o.Change], o.Kind, o.Namespace, o.Name))
		for _, f := range o.Fields {
			line("", "  "+f.Path+":")
			if f.Change != Added {
				for _, l := range yamlLines(f.Old) {
					line(red, "-   "+l)
				}
			}
			if f.Change != Removed {
				for _, l := range yamlLines(f.New) {
					line(green, "+   "+l)
				}
			}
		}
	}
	b.WriteByte('\n')
	s := p.Summary
	line("", fmt.Sprintf("templates changed: %d", s.TemplatesChanged))
	for _, m := range s.SchedulesMoved {
		before, after := scheduleText(m.Before, m.After), scheduleText(m.After, m.Before)
		line("", fmt.Sprintf("schedule moved: %s/%s: %s -> %s", m.Namespace, m.Pipeline, before, after))
	}
	for _, c := range s.ImagesChanged {
		line("", fmt.Sprintf("image changed: %s/%s/%s: %s -> %s", c.Namespace, c.Pipeline, c.Template, imagesText(c.Before), imagesText(c.After)))
	}
	if s.GPUHours != [2]float64{} {
		line("", fmt.Sprintf("GPU-hours per run: %.1f -> %.1f", s.GPUHours[0], s.GPUHours[1]))
	}
	if s.Cost != [2]float64{} {
		line("", fmt.Sprintf("cost per run: $%.2f -> $%.2f", s.Cost[0], s.Cost[1]))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// yamlLines renders a value as YAML lines.
func yamlLines(v any) []string {
	if s, ok := v.(string); ok && strings.Contains(s, "\n") {
		lines := []string{"|"}
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			lines = append(lines, "  "+l)
		}
		return lines
	}
	data, err := emit.EncodeYAML(v)
	if err != nil {
		data, _ = json.Marshal(v)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// scheduleText writes a schedule, with its time zone when it differs
// from the other side's (or, for a CronWorkflow added or removed, when it
// is not UTC).
func scheduleText(s, other *Schedule) string {
	if s == nil {
		return "(none)"
	}
	t := strings.Join(s.Schedules, ", ")
	if t == "" {
		t = "(no schedule)"
	}
	if s.Timezone != "" && ((other != nil && other.Timezone != s.Timezone) || (other == nil && s.Timezone != "UTC")) {
		t += " (" + s.Timezone + ")"
	}
	return t
}

// imagesText writes a template's images.
func imagesText(images []string) string {
	if len(images) == 0 {
		return "(none)"
	}
	return strings.Join(images, ", ")
}

// JSON writes the plan as indented JSON, with the field names of the
// types' json tags (lower camel case), which are stable; "objects" is a
// list, empty when nothing changes. Decoding it gives back the plan.
func (p *Plan) JSON(w io.Writer) error {
	q := Plan{}
	if p != nil {
		q = *p
	}
	if q.Objects == nil {
		q.Objects = []ObjectChange{} // "objects": [], never null
	}
	data, err := json.MarshalIndent(q, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
