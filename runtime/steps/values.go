package steps

import (
	"strings"
	"time"
)

// timestampLayouts are the forms a timestamp given as text may take, after
// a space between date and time is read as "T".
var timestampLayouts = []string{
	time.RFC3339Nano,                // 2006-01-02T15:04:05.999999999Z07:00
	"2006-01-02T15:04:05.999999999", // no zone
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// isTimestamp reports whether s is a timestamp: RFC 3339, with "T" or a
// space between date and time, the zone optional, seconds optional; or a
// date alone.
func isTimestamp(s string) bool {
	if len(s) < len("2006-01-02") || s[4] != '-' {
		return false
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	if len(s) > 10 && s[10] != 'T' && s[10] != 't' {
		return false
	}
	if len(s) > 10 && s[10] == 't' || strings.HasSuffix(s, "z") {
		s = strings.ToUpper(s)
	}
	for _, l := range timestampLayouts {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}
