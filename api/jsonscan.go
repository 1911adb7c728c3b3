package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// jsonLimits bound the shape of a request body, checked before it is
// decoded into Go values: a small body of deep nesting or of many tiny
// elements would otherwise cost far more memory than its size.
type jsonLimits struct {
	// MaxDepth counts nested objects and arrays, the top object being 1.
	MaxDepth int
	// MaxMembers bounds the members of one object.
	MaxMembers int
	// MaxElements bounds the elements of one array.
	MaxElements int
	// Known, when set, reports whether an object at path may have a
	// member called name; others are refused as unknown fields.
	Known func(path, name string) bool
}

// frame is one open object or array during the scan.
type frame struct {
	object bool
	path   string
	n      int             // members or elements so far
	keys   map[string]bool // of an object, to refuse duplicates
	key    string          // an object's member being read
	// wantKey: an object expects a member name next (not a value).
	wantKey bool
}

// scanJSON checks that data is one JSON object within lim, with no member
// named twice in an object (decoders disagree on which one wins), and
// returns the names of its top-level members. Errors are 400s naming the
// field where the limit was crossed.
func scanJSON(data []byte, lim jsonLimits) (map[string]bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	var top map[string]bool
	done := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if !done {
				return nil, badRequest("", "the body is not a complete JSON object")
			}
			return top, nil
		}
		if err != nil {
			return nil, badRequest("", "malformed JSON: %v", err)
		}
		if done {
			return nil, badRequest("", "malformed JSON: data after the object")
		}
		if len(stack) == 0 && tok != json.Delim('{') {
			return nil, badRequest("", "the body must be a JSON object")
		}
		var parent *frame
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		if parent != nil && parent.wantKey && tok != json.Delim('}') {
			name := tok.(string) // the decoder only yields strings as member names
			if err := parent.addMember(name, lim); err != nil {
				return nil, err
			}
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			path := ""
			if parent != nil {
				p, err := parent.addValue(lim)
				if err != nil {
					return nil, err
				}
				path = p
			}
			if len(stack) >= lim.MaxDepth {
				return nil, badRequest(path, "nested too deeply")
			}
			f := &frame{object: tok == json.Delim('{'), wantKey: tok == json.Delim('{'), path: path}
			if f.object {
				f.keys = map[string]bool{}
			}
			stack = append(stack, f)
			if len(stack) == 1 {
				top = f.keys
			}
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				done = true
			} else {
				stack[len(stack)-1].wantKey = stack[len(stack)-1].object
			}
		default:
			if _, err := parent.addValue(lim); err != nil {
				return nil, err
			}
			parent.wantKey = parent.object
		}
	}
}

// addMember records an object member's name.
func (f *frame) addMember(name string, lim jsonLimits) error {
	path := join(f.path, name)
	if f.keys[name] {
		return badRequest(path, "given twice")
	}
	if lim.Known != nil && !lim.Known(f.path, name) {
		return badRequest(path, "unknown field")
	}
	if f.n++; f.n > lim.MaxMembers {
		return badRequest(f.path, "more than %d members", lim.MaxMembers)
	}
	f.keys[name] = true
	f.key = name
	f.wantKey = false
	return nil
}

// addValue counts a value in its parent and returns the value's path.
func (f *frame) addValue(lim jsonLimits) (string, error) {
	if f.object {
		return join(f.path, f.key), nil
	}
	if f.n++; f.n > lim.MaxElements {
		return "", badRequest(f.path, "more than %d elements", lim.MaxElements)
	}
	return f.path + "[" + strconv.Itoa(f.n-1) + "]", nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return fmt.Sprintf("%s.%s", path, name)
}
