package app_test

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	miniprogramapi "github.com/villagepoints/jifen/miniprogram-api"
)

type spec struct {
	Paths map[string]map[string]any `yaml:"paths"`
}

var pathParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// TestRoutesMatchSpec fails when a registered route is missing from
// openapi.yaml, when the spec names a route the server does not have, or
// when an operation lacks a unique operationId.
func TestRoutesMatchSpec(t *testing.T) {
	a := mustApp(t, "embedded")
	var s spec
	if err := yaml.Unmarshal(miniprogramapi.OpenAPI, &s); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	documented := map[string]bool{}
	ids := map[string]string{}
	for path, ops := range s.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			m, _ := op.(map[string]any)
			id, _ := m["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", key)
			} else if other, dup := ids[id]; dup {
				t.Errorf("operationId %s is used by %s and %s", id, other, key)
			}
			ids[id] = key
		}
	}
	registered := map[string]bool{}
	for _, r := range a.Router.Routes() {
		if r.Method == http.MethodHead {
			continue
		}
		registered[r.Method+" "+pathParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route %s is registered but not in miniprogram-api/openapi.yaml", k)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("openapi.yaml documents %s but the server has no such route", k)
		}
	}
	if len(registered) < 20 {
		t.Fatalf("only %d routes registered; the router was not built", len(registered))
	}
	keys := slices.Sorted(maps.Keys(registered))
	t.Logf("%d routes match the spec: %v", len(keys), keys)
}
