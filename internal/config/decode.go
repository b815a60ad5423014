package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// source remembers where each key came from so that errors, including those
// found later by Validate, name the file and the line.
type source struct {
	file   string
	lines  map[string]int  // key path -> line where it was set
	failed map[string]bool // key paths that could not be decoded
}

// errorf builds "file:line: path: err", leaving out the parts that are unknown.
func (s *source) errorf(line int, path string, err error) error {
	var loc string
	switch {
	case s.file != "" && line > 0:
		loc = fmt.Sprintf("%s:%d: ", s.file, line)
	case s.file != "":
		loc = s.file + ": "
	case line > 0:
		loc = fmt.Sprintf("line %d: ", line)
	}
	if path != "" {
		loc += path + ": "
	}
	return fmt.Errorf("%s%w", loc, err)
}

// line is where path, or the nearest enclosing key that was given, was set.
// A list item that is not in the file was added by an override, and so was
// everything in it.
func (s *source) line(path string) int {
	for ; path != ""; path = parent(path) {
		if l, ok := s.lines[path]; ok {
			return l
		}
		if strings.HasSuffix(path, "]") {
			return 0
		}
	}
	return 0
}

// forget drops the positions of the values an override changed, so that
// errors about them do not point into the file.
func (s *source) forget(path string, before, after reflect.Value) {
	if reflect.DeepEqual(before.Interface(), after.Interface()) || bothNaN(before, after) {
		return
	}
	delete(s.lines, path)
	switch {
	case reflect.PointerTo(after.Type()).Implements(unmarshalerType):
	case after.Kind() == reflect.Struct:
		for i := range after.NumField() {
			if f := after.Type().Field(i); f.IsExported() {
				s.forget(strings.TrimPrefix(path+"."+f.Tag.Get("yaml"), "."), before.Field(i), after.Field(i))
			}
		}
	case after.Kind() == reflect.Slice:
		for i := range min(before.Len(), after.Len()) {
			s.forget(fmt.Sprintf("%s[%d]", path, i), before.Index(i), after.Index(i))
		}
	}
}

// bothNaN reports whether before and after are both NaN, which
// reflect.DeepEqual holds to differ: an override left the value alone.
func bothNaN(before, after reflect.Value) bool {
	return before.CanFloat() && math.IsNaN(before.Float()) && math.IsNaN(after.Float())
}

// hasFailed reports whether path or anything enclosing it could not be
// decoded; its zero value would only produce a second, misleading error.
func (s *source) hasFailed(path string) bool {
	for ; ; path = parent(path) {
		if s.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
	}
}

// parent strips the last ".key" or "[i]" from a key path.
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// decoder fills a Config from a yaml.Node tree. yaml.v3 alone stops short of
// what is needed: Node.Decode cannot reject unknown keys, and its errors name
// neither the key path nor, for custom types, the line.
type decoder struct {
	lookupEnv func(string) (string, bool)
	src       *source
	errs      []error
}

func (d *decoder) fail(line int, path string, err error) {
	d.src.failed[path] = true
	d.errs = append(d.errs, d.src.errorf(line, path, err))
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value keeps the default
	}
	switch {
	case reflect.PointerTo(v.Type()).Implements(unmarshalerType):
		d.scalar(n, v, path)
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, fmt.Errorf("expected a mapping, got %s", describe(n)))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := key.Value
		if path != "" {
			p = path + "." + key.Value
		}
		field, ok := fieldByKey(v.Type(), key.Value)
		switch {
		case !ok:
			d.fail(key.Line, p, errors.New("unknown key"))
		case seen[key.Value]:
			d.fail(key.Line, p, fmt.Errorf("duplicate key (first set on line %d)", d.src.lines[p]))
		default:
			seen[key.Value] = true
			d.src.lines[p] = key.Line
			d.value(val, v.Field(field), p)
		}
	}
}

// fieldByKey finds the struct field whose yaml tag is key.
func fieldByKey(t reflect.Type, key string) (int, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); f.IsExported() && name == key {
			return i, true
		}
	}
	return 0, false
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, fmt.Errorf("expected a list, got %s", describe(n)))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.src.lines[p] = item.Line
		if t, ok := s.Index(i).Addr().Interface().(interface{ setDefaults() }); ok {
			t.setDefaults()
		}
		d.value(item, s.Index(i), p)
	}
	v.Set(s)
}

// scalar expands ${VAR} in a leaf value and decodes it. Expansion happens on
// the node, after YAML parsing, so a variable's value is never parsed as YAML
// structure and line numbers stay those of the file.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, fmt.Errorf("expected %s, got %s", expected(v.Type()), describe(n)))
		return
	}
	leaf := *n // a copy: an aliased node may be decoded again
	if strings.Contains(leaf.Value, "$") {
		val, err := expand(leaf.Value, d.lookupEnv)
		if err != nil {
			d.fail(n.Line, path, err)
			return
		}
		leaf.Value = val
		if v.Kind() == reflect.String {
			leaf.Tag = "!!str" // "null" or "true" from the environment stays a string
		} else {
			leaf.Tag, leaf.Style = "", 0 // re-resolve, so top: ${TOP} can be an integer
		}
	}
	if (v.Type() == reflect.TypeFor[int]() || v.Type() == reflect.TypeFor[int64]()) && leaf.ShortTag() == "!!float" {
		// yaml.v3 would silently truncate 1.5 to 1.
		d.fail(n.Line, path, fmt.Errorf("expected %s, got %s", expected(v.Type()), describe(&leaf)))
		return
	}
	if err := leaf.Decode(v.Addr().Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) { // its message has no key path; say it plainly instead
			err = fmt.Errorf("expected %s, got %s", expected(v.Type()), describe(&leaf))
		}
		d.fail(n.Line, path, err)
	}
}

// expected names the YAML value a Go type takes. Type errors never show
// string values, which may be secrets.
func expected(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "a duration such as 5s or 1m"
	case reflect.TypeFor[ByteSize]():
		return "a size such as 500MB or 1GiB"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return "a single value"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// expand replaces ${NAME} with the variable's value and $$ with $. Any other
// $ is kept, so passwords containing one need no escaping.
func expand(s string, lookupEnv func(string) (string, bool)) (string, error) {
	var b strings.Builder
	var unset []string
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errors.New("unterminated ${ (write $$ for a literal $)")
			}
			name := s[i+2 : i+end]
			if !isEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q", name)
			}
			val, ok := lookupEnv(name)
			if !ok {
				unset = append(unset, name)
			}
			b.WriteString(val)
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	switch len(unset) {
	case 0:
		return b.String(), nil
	case 1:
		return "", fmt.Errorf("environment variable %s is not set", unset[0])
	}
	return "", fmt.Errorf("environment variables %s are not set", strings.Join(unset, ", "))
}

func isEnvName(s string) bool {
	for i, r := range s {
		if !(r == '_' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return s != ""
}
