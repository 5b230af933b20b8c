// chart-render renders a Helm chart with helm's own library exactly as `helm template` does
// (pkg/action Install with DryRun, ClientOnly and Replace; pkg/chart/loader; pkg/cli/values for
// -f, --set and --set-string; values.schema.json checked by helm), and prints the result as
// JSON for test/chart/chartcheck.py. Built by test/e2e/tools/build.sh with the same ldflags as
// the helm binary beside it (so the default Kubernetes version is the same). Test-only.
//
// Usage: chart-render [--name NAME] [--namespace NS] [-f FILE]... [--set K=V]...
//
//	[--set-string K=V]... [--kube-version vX.Y.Z] [--api-versions GROUP/VERSION]...
//	[-o yaml|json] [--show-values] CHART_DIR
//	chart-render --yaml2json FILE...   (each file's documents as JSON, strict YAML)
//
// -o yaml prints what `helm template NAME CHART_DIR ...` prints, byte for byte. -o json prints
// {"manifests": [{"source", "object"}], "notes": "..."}: every rendered document (hooks
// included, as helm template prints them) parsed as strict YAML (a duplicate key is an error),
// and the rendered NOTES.txt. --show-values prints the release's computed values (what
// `helm get values --all` would print) as JSON. Errors go to stderr as "Error: ..." with exit
// status 1, worded by helm.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
)

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	os.Exit(1)
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// yamlDocs splits a YAML stream and converts each non-empty document to JSON, strictly.
func yamlDocs(data, where string) ([]json.RawMessage, error) {
	docs := []json.RawMessage{}
	for i, doc := range docSep.Split(data, -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("YAML parse error on %s (document %d): %v\n%s", where, i+1, err, doc)
		}
		if string(j) != "null" {
			docs = append(docs, j)
		}
	}
	return docs, nil
}

func yaml2json(paths []string) {
	type entry struct {
		File string            `json:"file"`
		Docs []json.RawMessage `json:"docs"`
	}
	all := []entry{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			fatal(err)
		}
		docs, err := yamlDocs(string(data), p)
		if err != nil {
			fatal(err)
		}
		all = append(all, entry{File: p, Docs: docs})
	}
	b, _ := json.Marshal(all)
	fmt.Println(string(b))
}

// templateOutput is what `helm template` prints for rel (cmd/helm/template.go, no --show-only,
// no --output-dir, hooks included).
func templateOutput(rel *release.Release) string {
	var b strings.Builder
	fmt.Fprintln(&b, strings.TrimSpace(rel.Manifest))
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String()
}

var sourceRe = regexp.MustCompile(`(?m)^# Source: (.+)$`)

type manifest struct {
	Source string          `json:"source"`
	Object json.RawMessage `json:"object"`
}

func manifests(rel *release.Release) ([]manifest, error) {
	split := releaseutil.SplitManifests(templateOutput(rel))
	keys := make([]string, 0, len(split))
	for k := range split {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys)) // in the order helm prints them
	out := []manifest{}
	for _, k := range keys {
		text := split[k]
		src := ""
		if m := sourceRe.FindStringSubmatch(text); m != nil {
			src = strings.TrimSpace(m[1])
		}
		docs, err := yamlDocs(text, src)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			var obj map[string]interface{}
			if err := json.Unmarshal(d, &obj); err != nil {
				return nil, fmt.Errorf("%s: a document is not a mapping: %s", src, d)
			}
			out = append(out, manifest{Source: src, Object: d})
		}
	}
	return out, nil
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--yaml2json" {
		yaml2json(args[1:])
		return
	}

	fs := pflag.NewFlagSet("chart-render", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	valueOpts := &values.Options{}
	// The same flag types as helm's own (cmd/helm/flags.go addValueOptionsFlags).
	fs.StringSliceVarP(&valueOpts.ValueFiles, "values", "f", nil, "values files")
	fs.StringArrayVar(&valueOpts.Values, "set", nil, "set values")
	fs.StringArrayVar(&valueOpts.StringValues, "set-string", nil, "set STRING values")
	name := fs.String("name", "ember-issuer", "release name")
	namespace := fs.StringP("namespace", "n", "default", "release namespace")
	kubeVersion := fs.String("kube-version", "", "Kubernetes version for Capabilities.KubeVersion")
	apiVersions := fs.StringSliceP("api-versions", "a", nil, "extra Capabilities.APIVersions")
	output := fs.StringP("output", "o", "yaml", "yaml or json")
	showValues := fs.Bool("show-values", false, "print the computed values as JSON")
	if err := fs.Parse(args); err != nil {
		fatal(err)
	}
	if fs.NArg() != 1 {
		fatal(errors.New("give exactly one chart directory"))
	}
	if *output != "yaml" && *output != "json" {
		fatal(errors.New("--output is yaml or json"))
	}

	// As `helm template` (cmd/helm/template.go and install.go's runInstall).
	client := action.NewInstall(&action.Configuration{Log: func(string, ...interface{}) {}})
	if *kubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(*kubeVersion)
		if err != nil {
			fatal(fmt.Errorf("invalid kube version '%s': %s", *kubeVersion, err))
		}
		client.KubeVersion = kv
	}
	client.DryRunOption = "true"
	client.DryRun = true
	client.ReleaseName = *name
	client.Replace = true
	client.ClientOnly = true
	client.APIVersions = chartutil.VersionSet(*apiVersions)
	client.Namespace = *namespace

	vals, err := valueOpts.MergeValues(getter.Providers{})
	if err != nil {
		fatal(err)
	}
	chrt, err := loader.Load(fs.Arg(0))
	if err != nil {
		fatal(err)
	}
	switch chrt.Metadata.Type {
	case "", "application":
	default:
		fatal(fmt.Errorf("%s charts are not installable", chrt.Metadata.Type))
	}
	if req := chrt.Metadata.Dependencies; req != nil {
		if err := action.CheckDependencies(chrt, req); err != nil {
			fatal(err)
		}
	}
	rel, err := client.Run(chrt, vals)
	if err != nil {
		fatal(err)
	}

	switch {
	case *showValues:
		all, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
		if err != nil {
			fatal(err)
		}
		b, err := json.Marshal(all)
		if err != nil {
			fatal(err)
		}
		fmt.Println(string(b))
	case *output == "yaml":
		fmt.Print(templateOutput(rel))
	default:
		ms, err := manifests(rel)
		if err != nil {
			fatal(err)
		}
		b, _ := json.Marshal(map[string]interface{}{"manifests": ms, "notes": rel.Info.Notes})
		fmt.Println(string(b))
	}
}
