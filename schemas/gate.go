package schemas

import (
	"fmt"
	"strconv"
	"strings"
)

// Gate is a condition a metric must meet, such as ">= 0.92".
type Gate struct {
	Op    string  // one of >=, >, <=, <, ==
	Value float64 // the threshold
}

var gateOps = []string{">=", "<=", "==", ">", "<"}

// ParseGate parses a gate expression "OP NUMBER" with OP one of >=, >, <=,
// <, ==.
func ParseGate(s string) (Gate, error) {
	t := strings.TrimSpace(s)
	for _, op := range gateOps {
		if rest, ok := strings.CutPrefix(t, op); ok {
			num := strings.TrimSpace(rest)
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || num == "" || strings.ContainsAny(num, "xXpP_") || isNonFinite(num) {
				return Gate{}, fmt.Errorf("gate %q: %q is not a number", s, num)
			}
			return Gate{Op: op, Value: v}, nil
		}
	}
	return Gate{}, fmt.Errorf("gate %q: want OPERATOR NUMBER with OPERATOR one of >=, >, <=, <, ==", s)
}

func isNonFinite(s string) bool {
	l := strings.ToLower(strings.TrimLeft(s, "+-"))
	return strings.HasPrefix(l, "inf") || l == "nan"
}

// Pass reports whether value meets the gate.
func (g Gate) Pass(value float64) bool {
	switch g.Op {
	case ">=":
		return value >= g.Value
	case ">":
		return value > g.Value
	case "<=":
		return value <= g.Value
	case "<":
		return value < g.Value
	case "==":
		return value == g.Value
	}
	return false
}

// String returns the gate in its canonical form, "OP VALUE".
func (g Gate) String() string {
	return g.Op + " " + strconv.FormatFloat(g.Value, 'g', -1, 64)
}
