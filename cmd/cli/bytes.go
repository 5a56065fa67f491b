package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/alecthomas/kong"
)

// Mappers makes every string argument arrive byte for byte. kong's own mappers read a
// value through a JSON round trip (Scanner.PopValueInto, jsonTranscode), which replaces
// bytes that are not UTF-8 with U+FFFD: an --exclude of such a directory would exclude
// nothing. os.Args are the raw bytes on Linux; these mappers take the token as it came.
// They replace the mapper of type string (so []string flags with sep:"none" too), and the
// named types "path" (made absolute, as kong's) and "existingdir" (absolute, must be a
// directory). kong's "~" expansion of paths is left out: the shell does that.
func Mappers() kong.Option {
	return kong.OptionFunc(func(k *kong.Kong) error {
		for _, o := range []kong.Option{
			kong.TypeMapper(reflect.TypeOf(""), rawMapper{}),
			kong.NamedMapper("path", rawMapper{abs: true}),
			kong.NamedMapper("existingdir", rawMapper{abs: true, dir: true}),
		} {
			if err := o.Apply(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// rawMapper decodes a string, or appends to a []string, from the raw token.
type rawMapper struct {
	abs bool // make a relative path absolute
	dir bool // it must name an existing directory
}

// Decode implements kong.Mapper.
func (m rawMapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	t, err := ctx.Scan.PopValue("value")
	if err != nil {
		return err
	}
	s, ok := t.Value.(string)
	if !ok { // a default or an env value kong already holds as something else
		s = fmt.Sprint(t.Value)
	}
	if m.abs && s != "" && s != "-" && !filepath.IsAbs(s) {
		if s, err = filepath.Abs(s); err != nil {
			return err
		}
	}
	if m.dir && s != "" {
		st, err := os.Stat(s)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("%q: %w", s, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("%q exists but is not a directory", s)
		}
	}
	switch {
	case target.Kind() == reflect.String:
		target.SetString(s)
	case target.Kind() == reflect.Slice && target.Type().Elem().Kind() == reflect.String:
		target.Set(reflect.Append(target, reflect.ValueOf(s).Convert(target.Type().Elem())))
	default:
		return fmt.Errorf("cli: a path mapper on %s", target.Type())
	}
	return nil
}
