package resolver

import (
	"errors"
	"fmt"
	"strings"
)

const (
	// maxNameLen is the longest name in text form without the final dot:
	// 255 octets on the wire (RFC 1035 §2.3.4) less the length octets.
	maxNameLen  = 253
	maxLabelLen = 63
)

// normalizeName returns name as used in queries and cache keys: ASCII
// lowercase, without the trailing dot. It accepts letters, digits, '-' and
// '_' (for service labels such as _mta-sts); anything else, including
// non-ASCII bytes, is rejected because IDNs must reach the resolver already
// converted to A-labels.
func normalizeName(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "", errors.New("empty name")
	}
	if len(name) > maxNameLen {
		return "", fmt.Errorf("name is %d octets, longer than %d", len(name), maxNameLen)
	}
	var b []byte // allocated only when a byte must be lowered
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", fmt.Errorf("empty label at offset %d", i)
			}
			label = 0
			continue
		case 'A' <= c && c <= 'Z':
			if b == nil {
				b = []byte(name)
			}
			b[i] = c + ('a' - 'A')
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", fmt.Errorf("invalid byte %q at offset %d", c, i)
		}
		label++
		if label > maxLabelLen {
			return "", fmt.Errorf("label at offset %d longer than %d octets", i-label+1, maxLabelLen)
		}
	}
	if label == 0 {
		return "", errors.New("empty last label")
	}
	if b != nil {
		return string(b), nil
	}
	return name, nil
}
