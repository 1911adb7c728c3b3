package events

import "slices"

// Filter selects events by type and by the name of their owner. An empty
// list selects all.
type Filter struct {
	Types []Type
	// Names are API key or SMTP user names, of either kind.
	Names []string
}

// Match reports whether f selects e.
func (f Filter) Match(e *Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	return len(f.Names) == 0 || e.Owner.Name != "" && slices.Contains(f.Names, e.Owner.Name)
}
