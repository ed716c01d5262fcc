package ir

import (
	"fmt"
	"regexp"
	"strconv"
)

var quantityRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)

var quantitySuffix = map[string]float64{
	"":   1,
	"m":  1e-3,
	"k":  1e3,
	"M":  1e6,
	"G":  1e9,
	"T":  1e12,
	"P":  1e15,
	"E":  1e18,
	"Ki": 1 << 10,
	"Mi": 1 << 20,
	"Gi": 1 << 30,
	"Ti": 1 << 40,
	"Pi": 1 << 50,
	"Ei": 1 << 60,
}

// Quantity returns the value of a spec quantity (#Quantity) such as "500m",
// "4" or "16Gi": for a CPU quantity, a number of cores.
func Quantity(s string) (float64, error) {
	m := quantityRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("quantity %q: want a number with an optional suffix such as \"500m\", \"4\" or \"16Gi\"", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("quantity %q: %v", s, err)
	}
	return n * quantitySuffix[m[2]], nil
}
