package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources/index"
)

// The identity section is checked against index.IdentityConfig's keys:
// the two lists must not drift apart.
func TestIdentityKeysFollowTheIndex(t *testing.T) {
	var want []string
	rt := reflect.TypeOf(index.IdentityConfig{})
	for i := range rt.NumField() {
		if tag := strings.Split(rt.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			want = append(want, tag)
		}
	}
	var got []string
	for k := range schema["identity"].(map[string]any) {
		got = append(got, k)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("config identity keys %v, index.IdentityConfig has %v", got, want)
	}
}

func TestIdentityUnknownKeyHasPosition(t *testing.T) {
	_, err := Parse("c.yaml", []byte("identity:\n  rules: [iis]\n  mtach: exact\n"))
	if err == nil || !strings.Contains(err.Error(), `c.yaml:3:3: unknown key "mtach" in identity`) {
		t.Errorf("got %v", err)
	}
}
