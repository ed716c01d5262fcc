package ir

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

var durationRE = regexp.MustCompile(`^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$`)

// ParseDuration parses a spec duration such as "90s", "4h" or "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	m := durationRE.FindStringSubmatch(s)
	if m == nil || s == "" {
		return 0, fmt.Errorf("duration %q: want a number of days, hours, minutes and seconds such as \"1d12h\" or \"90s\"", s)
	}
	const maxSeconds = 10000 * 24 * 3600 // 10000 days: longer is a mistake
	var secs int64
	for i, unit := range []int64{24 * 3600, 3600, 60, 1} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > maxSeconds/unit || secs+n*unit > maxSeconds {
			return 0, fmt.Errorf("duration %q is too long: at most 10000d", s)
		}
		secs += n * unit
	}
	d := time.Duration(secs) * time.Second
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return d, nil
}
