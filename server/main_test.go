package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
)

// TestComposeFileIsValid loads docker-compose.yml with the loader docker
// compose itself uses, as `docker compose config` does, so the file is
// checked on machines without Docker.
func TestComposeFileIsValid(t *testing.T) {
	path, err := filepath.Abs("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"MYSQL_PASSWORD=p", "MYSQL_ROOT_PASSWORD=r", "SECRET_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithEnv(env), cli.WithName("jifen"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not validate: %v", err)
	}
	for _, name := range []string{"mysql", "redis", "server"} {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}
	srv, _ := p.GetService("server")
	for _, k := range []string{"DATABASE_DSN", "REDIS_URL", "SECRET_KEY"} {
		if v := srv.Environment[k]; v == nil || *v == "" {
			t.Errorf("server lacks %s", k)
		}
	}
	if _, err := os.Stat("../Dockerfile"); err != nil {
		t.Errorf("compose builds the server from a Dockerfile: %v", err)
	}
	// Without the secrets the file must refuse to load, not fall back to a default.
	opts, _ = cli.NewProjectOptions([]string{path}, cli.WithEnv([]string{"MYSQL_PASSWORD=p", "MYSQL_ROOT_PASSWORD=r"}), cli.WithName("jifen"))
	if _, err := opts.LoadProject(context.Background()); err == nil {
		t.Error("compose loaded without SECRET_KEY")
	}
}
