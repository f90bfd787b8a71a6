package dbt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/integrations/command"
	"github.com/eltproject/elt/process"
)

// Prepare readies a dbt project for Load, for `elt sync --prepare`: it runs
// `dbt deps` when packages.yml or dependencies.yml lists packages that are
// not installed yet, then `dbt parse`, which writes the manifest where Load
// reads it. dbt's output goes to out.
func Prepare(ctx context.Context, cfg Config, projectDir string, out io.Writer) error {
	if err := cfg.validateErr(); err != nil {
		return err
	}
	c, err := cfg.resolved(projectDir)
	if err != nil {
		return err
	}
	if out == nil {
		out = io.Discard
	}
	r := &Runner{cfg: c}
	env := []string{
		"DBT_PROJECT_DIR=" + c.ProjectDir,
		// dbt colours its text log even when it is not a terminal.
		"DBT_USE_COLORS=false",
		"DBT_TARGET_PATH=" + filepath.Dir(c.Manifest),
	}
	if pd := r.profilesDir(); pd != "" {
		env = append(env, "DBT_PROFILES_DIR="+pd)
	}
	env = command.Environ(nil, env...)
	common := []string{}
	if c.Target != "" {
		common = append(common, "--target", c.Target)
	}
	// Parse with the configured vars; partition vars are only known per
	// run, so models should give them defaults: var('min_date', '…').
	vars, err := r.vars(nil)
	if err != nil {
		return err
	}
	if vars != "" {
		common = append(common, "--vars", vars)
	}

	need, err := needsDeps(c.ProjectDir)
	if err != nil {
		return err
	}
	run := func(sub string, extra ...string) error {
		argv := append([]string{c.Executable, sub}, extra...)
		fmt.Fprintf(out, "elt: running %s in %s\n", displayArgv(argv), c.ProjectDir)
		_, err := process.Run(ctx, &process.Proc{Argv: argv, Dir: c.ProjectDir, Env: env, Output: out})
		if err != nil {
			return fmt.Errorf("dbt %s in %s: %w", sub, c.ProjectDir, err)
		}
		return nil
	}
	if need {
		// deps takes no --target or --vars that matter here.
		if err := run("deps"); err != nil {
			return err
		}
	}
	if err := run("parse", common...); err != nil {
		return err
	}
	if _, err := os.Stat(c.Manifest); err != nil {
		return fmt.Errorf("dbt parse did not write %s: check manifest: in elt.yaml: %w", c.Manifest, err)
	}
	return nil
}

// needsDeps reports whether the project lists packages (packages.yml or
// dependencies.yml) and its packages folder is missing.
func needsDeps(projectDir string) (bool, error) {
	listed := false
	for _, name := range []string{"packages.yml", "dependencies.yml"} {
		path := filepath.Join(projectDir, name)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		var f struct {
			Packages []any `yaml:"packages"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		if len(f.Packages) > 0 {
			listed = true
		}
	}
	if !listed {
		return false, nil
	}
	dir, err := packagesDir(projectDir)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(dir)
	return errors.Is(err, os.ErrNotExist), nil
}

// packagesDir is where dbt installs packages: packages-install-path (or
// the older modules-path) of dbt_project.yml, dbt_packages by default.
func packagesDir(projectDir string) (string, error) {
	path := filepath.Join(projectDir, "dbt_project.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("dbt project: %w (is project_dir the folder with dbt_project.yml?)", err)
	}
	var p struct {
		InstallPath string `yaml:"packages-install-path"`
		ModulesPath string `yaml:"modules-path"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	dir := p.InstallPath
	if dir == "" {
		dir = p.ModulesPath
	}
	if dir == "" {
		dir = "dbt_packages"
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(projectDir, dir)
	}
	return dir, nil
}
