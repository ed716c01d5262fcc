package argo

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Prune turns a typed object into plain JSON data, dropping what the typed
// API adds but a manifest should not carry: null values, empty objects
// (other than emptyDir volumes), the creation time and the status.
func Prune(obj any) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers keep the text the API types wrote
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	delete(m, "status")
	pruneEmpty(m)
	return m, nil
}

func pruneEmpty(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if x == nil {
				delete(v, k)
				continue
			}
			pruneEmpty(x)
			if mm, ok := x.(map[string]any); ok && len(mm) == 0 && k != "emptyDir" {
				delete(v, k)
			}
		}
	case []any:
		for _, x := range v {
			pruneEmpty(x)
		}
	}
}

func sortStrings(s []string) { sort.Strings(s) }
