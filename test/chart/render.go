// render.go -- renders a Helm chart the way `helm template` does, for the chart tests: helm is
// not installable here, so this is helm's engine rebuilt from Go's text/template, sprig and
// helm's own template functions (include, tpl, required, toYaml, fromYaml, toJson, fromJson,
// lookup -> empty, fail from sprig), its values handling (values.yaml, then -f files in order,
// then --set; a null removes a default) and its values.schema.json check (gojsonschema, the
// validator helm 3 used). Build in GOPATH mode with Debian's Go packages:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=build/gocache go build -o X ./test/chart
//
// Usage: render [--name NAME] [--namespace NS] [-f FILE]... [--set K=V]... [--set-string K=V]...
//
//	[--kube-version vX.Y.Z] [--api-versions GROUP/VERSION]... [--output yaml|json]
//	[--show-values] CHART_DIR
//	render --yaml2json FILE...    (each file's documents as JSON, strict YAML)
//
// --output json prints {"manifests": [{"source", "object"}], "notes": "..."}; --show-values
// prints the final values as JSON. Errors go to stderr as "Error: ..." with exit code 1, as
// helm prints them.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// chartMeta is Chart.yaml, with the field names templates see as .Chart.X (helm's
// chart.Metadata). Unknown keys in Chart.yaml are an error.
type chartMeta struct {
	APIVersion   string            `json:"apiVersion"`
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Description  string            `json:"description,omitempty"`
	Type         string            `json:"type,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Dependencies []interface{}     `json:"dependencies,omitempty"`
	Maintainers  []interface{}     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// files is .Files: every chart file that is not Chart.yaml, values.yaml, values.schema.json,
// templates/ or charts/ (helm's loader puts the rest there).
type files map[string][]byte

func (f files) GetBytes(name string) []byte { return f[name] }
func (f files) Get(name string) string      { return string(f[name]) }

// Glob matches with path.Match: '*' does not cross '/', as helm's glob with '/' separators.
func (f files) Glob(pattern string) files {
	out := files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func (f files) Lines(name string) []string {
	s := strings.TrimSuffix(string(f[name]), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (f files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

func (f files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = base64.StdEncoding.EncodeToString(data)
	}
	return toYAML(m)
}

// versionSet is .Capabilities.APIVersions.
type versionSet []string

func (v versionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type kubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k kubeVersion) String() string { return k.Version }

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions versionSet
	HelmVersion map[string]string
}

// builtinAPIVersions: the group/versions of a Kubernetes 1.25+ API server (helm's default set
// comes from client-go's scheme); --api-versions adds more, as `helm template --api-versions`.
var builtinAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1",
	"autoscaling/v2", "batch/v1", "certificates.k8s.io/v1", "coordination.k8s.io/v1",
	"discovery.k8s.io/v1", "events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta3",
	"networking.k8s.io/v1", "node.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
	"scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

// ---- template functions --------------------------------------------------------------------

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var a []interface{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// requiredError marks the message of required/fail so that the error shows it alone.
type requiredError struct{ msg string }

func (e requiredError) Error() string { return e.msg }

func funcMap(t **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env") // helm removes these: a chart must not read the renderer's environment
	delete(f, "expandenv")
	depth := map[string]int{}
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"include": func(name string, data interface{}) (string, error) {
			if depth[name] > 1000 {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			depth[name]++
			defer func() { depth[name]-- }()
			var b strings.Builder
			err := (*t).ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"tpl": func(text string, vals map[string]interface{}) (string, error) {
			c, err := (*t).Clone()
			if err != nil {
				return "", err
			}
			n, err := c.New("tpl").Parse(text)
			if err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
			}
			var b strings.Builder
			if err := n.Execute(&b, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
			}
			return strings.ReplaceAll(b.String(), "<no value>", ""), nil
		},
		"required": func(msg string, v interface{}) (interface{}, error) {
			if v == nil {
				return v, requiredError{msg}
			}
			if s, ok := v.(string); ok && s == "" {
				return v, requiredError{msg}
			}
			return v, nil
		},
		"fail": func(msg string) (string, error) { return "", requiredError{msg} },
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil // as `helm template`: no cluster
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// ---- values --------------------------------------------------------------------------------

// mergeMaps: b over a, recursively for maps (helm's mergeMaps for -f files).
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]interface{}); ok {
			if am, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce: user values over the chart's defaults, maps merged key by key; a user null deletes
// the key (helm's CoalesceValues). A user map over a default scalar (or the reverse) simply
// replaces it (helm warns; the chart's schema then refuses the wrong type).
func coalesce(user, defaults map[string]interface{}, where string) (map[string]interface{}, error) {
	out := map[string]interface{}{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range user {
		if v == nil {
			delete(out, k)
			continue
		}
		um, uok := v.(map[string]interface{})
		dm, dok := out[k].(map[string]interface{})
		if uok && dok {
			m, err := coalesce(um, dm, where+k+".")
			if err != nil {
				return nil, err
			}
			out[k] = m
			continue
		}
		out[k] = v
	}
	return out, nil
}

// splitUnescaped splits s at sep outside {...}, honouring backslash escapes.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	var cur strings.Builder
	braces := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
		case c == '{':
			braces++
			cur.WriteByte(c)
		case c == '}':
			braces--
			cur.WriteByte(c)
		case c == sep && braces == 0:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// typedValue: helm's --set typing: true/false, null, integers (no leading zero), else string.
func typedValue(s string, asString bool) interface{} {
	if asString {
		return unescape(s)
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || !strings.HasPrefix(strings.TrimPrefix(s, "-"), "0")) {
		return n
	}
	return unescape(s)
}

var indexRe = regexp.MustCompile(`^(.*)\[([0-9]+)\]$`)

// setValue applies one --set KEY=VALUE (KEY: dotted path, name[N] list index; VALUE: {a,b} a
// list) into vals.
func setValue(vals map[string]interface{}, expr string, asString bool) error {
	eq := -1
	for i := 0; i < len(expr); i++ {
		if expr[i] == '\\' {
			i++
			continue
		}
		if expr[i] == '=' {
			eq = i
			break
		}
	}
	if eq <= 0 {
		return fmt.Errorf("key %q has no value", expr)
	}
	key, raw := expr[:eq], expr[eq+1:]
	var val interface{}
	if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
		list := []interface{}{}
		inner := raw[1 : len(raw)-1]
		if inner != "" {
			for _, p := range splitUnescaped(inner, ',') {
				list = append(list, typedValue(p, asString))
			}
		}
		val = list
	} else {
		val = typedValue(raw, asString)
	}
	parts := splitUnescaped(key, '.')
	cur := vals
	for i, p := range parts {
		last := i == len(parts)-1
		name, idx := unescape(p), -1
		if m := indexRe.FindStringSubmatch(p); m != nil {
			name = unescape(m[1])
			idx, _ = strconv.Atoi(m[2])
			if idx > 65536 {
				return fmt.Errorf("%s: index too large", key)
			}
		}
		if name == "" {
			return fmt.Errorf("key %q has an empty part", key)
		}
		if idx < 0 {
			if last {
				cur[name] = val
				return nil
			}
			next, ok := cur[name].(map[string]interface{})
			if !ok {
				next = map[string]interface{}{}
				cur[name] = next
			}
			cur = next
			continue
		}
		list, _ := cur[name].([]interface{})
		for len(list) <= idx {
			list = append(list, nil)
		}
		cur[name] = list
		if last {
			list[idx] = val
			return nil
		}
		next, ok := list[idx].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			list[idx] = next
		}
		cur = next
	}
	return nil
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := ioutil.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return m, nil
}

// validateSchema checks the final values against values.schema.json, as helm does before
// rendering, and words the failure as helm does.
func validateSchema(chartName string, schema []byte, vals map[string]interface{}) error {
	doc, err := json.Marshal(vals)
	if err != nil {
		return err
	}
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(doc))
	if err != nil {
		return fmt.Errorf("values.schema.json: %v", err)
	}
	if res.Valid() {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n", chartName)
	for _, e := range res.Errors() {
		fmt.Fprintf(&b, "- %s\n", e)
	}
	return errors.New(strings.TrimSuffix(b.String(), "\n"))
}

// ---- chart loading and rendering -----------------------------------------------------------

type chart struct {
	dir       string
	meta      chartMeta
	values    map[string]interface{}
	schema    []byte
	templates map[string]string // "templates/x.yaml" -> text
	files     files
}

func loadChart(dir string) (*chart, error) {
	c := &chart{dir: dir, templates: map[string]string{}, files: files{}}
	raw, err := ioutil.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(raw, &c.meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	m := c.meta
	switch {
	case m.APIVersion != "v2":
		return nil, fmt.Errorf("Chart.yaml: apiVersion %q, want v2", m.APIVersion)
	case m.Name == "" || strings.ContainsAny(m.Name, "/\\ "):
		return nil, fmt.Errorf("Chart.yaml: name %q is not a chart name", m.Name)
	case m.Type != "" && m.Type != "application" && m.Type != "library":
		return nil, fmt.Errorf("Chart.yaml: type %q", m.Type)
	}
	if _, err := semver.StrictNewVersion(m.Version); err != nil {
		return nil, fmt.Errorf("Chart.yaml: version %q is not SemVer 2: %v", m.Version, err)
	}
	if m.KubeVersion != "" {
		if _, err := semver.NewConstraint(m.KubeVersion); err != nil {
			return nil, fmt.Errorf("Chart.yaml: kubeVersion %q: %v", m.KubeVersion, err)
		}
	}
	if c.values, err = readYAMLMap(filepath.Join(dir, "values.yaml")); err != nil {
		return nil, err
	}
	if s, err := ioutil.ReadFile(filepath.Join(dir, "values.schema.json")); err == nil {
		c.schema = s
	}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			if rel == "charts" {
				return errors.New("subcharts (charts/) are not supported by this renderer")
			}
			return nil
		}
		data, err := ioutil.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json":
		case strings.HasPrefix(rel, "templates/"):
			c.templates[rel] = string(data)
		default:
			c.files[rel] = data
		}
		return nil
	})
	return c, err
}

type manifest struct {
	Source string          `json:"source"`
	Object json.RawMessage `json:"object"`
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// execError rewords template errors as helm does: a fail/required message alone, with where.
func execError(name string, err error) error {
	var re requiredError
	var ee template.ExecError
	if errors.As(err, &re) && errors.As(err, &ee) {
		loc := strings.SplitN(strings.TrimPrefix(ee.Error(), "template: "), ": ", 2)[0]
		return fmt.Errorf("execution error at (%s): %s", loc, re.msg)
	}
	return fmt.Errorf("%s: %v", name, err)
}

func render(c *chart, top map[string]interface{}) ([]manifest, string, error) {
	var t *template.Template
	t = template.New("gotpl").Option("missingkey=zero").Funcs(funcMap(&t))
	names := make([]string, 0, len(c.templates))
	for n := range c.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := t.New(c.meta.Name + "/" + n).Parse(c.templates[n]); err != nil {
			return nil, "", fmt.Errorf("parse error: %v", err)
		}
	}
	var out []manifest
	notes := ""
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		isNotes := n == "templates/NOTES.txt"
		ext := path.Ext(n)
		if !isNotes && ext != ".yaml" && ext != ".yml" {
			return nil, "", fmt.Errorf("%s: only .yaml/.yml manifests, _*.tpl partials and NOTES.txt belong in templates/", n)
		}
		full := c.meta.Name + "/" + n
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": full, "BasePath": c.meta.Name + "/templates"}
		var b strings.Builder
		if err := t.ExecuteTemplate(&b, full, vals); err != nil {
			return nil, "", execError(full, err)
		}
		text := strings.ReplaceAll(b.String(), "<no value>", "")
		if isNotes {
			notes = text
			continue
		}
		for i, doc := range docSep.Split(text, -1) {
			j, err := yaml.YAMLToJSONStrict([]byte(doc))
			if err != nil {
				return nil, "", fmt.Errorf("YAML parse error on %s (document %d): %v\n%s", full, i+1, err, doc)
			}
			if string(j) == "null" {
				continue // empty or comments only: helm drops it
			}
			var obj map[string]interface{}
			if err := json.Unmarshal(j, &obj); err != nil {
				return nil, "", fmt.Errorf("%s (document %d) is not a mapping: %s", full, i+1, j)
			}
			md, _ := obj["metadata"].(map[string]interface{})
			var missing []string
			for _, k := range []string{"apiVersion", "kind"} {
				if s, _ := obj[k].(string); s == "" {
					missing = append(missing, k+" not set")
				}
			}
			if s, _ := md["name"].(string); s == "" {
				missing = append(missing, "metadata.name not set")
			}
			if len(missing) > 0 {
				return nil, "", fmt.Errorf("error validating %s (document %d): %v", full, i+1, missing)
			}
			out = append(out, manifest{Source: full, Object: j})
		}
	}
	return out, notes, nil
}

type strList []string

func (s *strList) String() string     { return strings.Join(*s, ",") }
func (s *strList) Set(v string) error { *s = append(*s, v); return nil }

func fatal(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "Error: "+format+"\n", a...)
	os.Exit(1)
}

func yaml2json(paths []string) {
	type entry struct {
		File string            `json:"file"`
		Docs []json.RawMessage `json:"docs"`
	}
	var all []entry
	for _, p := range paths {
		data, err := ioutil.ReadFile(p)
		if err != nil {
			fatal("%v", err)
		}
		e := entry{File: p, Docs: []json.RawMessage{}}
		for i, doc := range docSep.Split(string(data), -1) {
			j, err := yaml.YAMLToJSONStrict([]byte(doc))
			if err != nil {
				fatal("%s (document %d): %v", p, i+1, err)
			}
			if string(j) != "null" {
				e.Docs = append(e.Docs, j)
			}
		}
		all = append(all, e)
	}
	b, _ := json.Marshal(all)
	fmt.Println(string(b))
}

func main() {
	var valueFiles, sets, setStrings, apiVersions strList
	name, namespace, kubeVer, output := "ember-issuer", "default", "v1.31.0", "yaml"
	showValues := false
	var positional []string
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--yaml2json" {
		yaml2json(args[1:])
		return
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() string {
			if eq := strings.IndexByte(a, '='); eq > 0 && strings.HasPrefix(a, "--") {
				return a[eq+1:]
			}
			if i+1 >= len(args) {
				fatal("%s needs a value", a)
			}
			i++
			return args[i]
		}
		flag := a
		if eq := strings.IndexByte(a, '='); eq > 0 && strings.HasPrefix(a, "--") {
			flag = a[:eq]
		}
		switch flag {
		case "--name":
			name = val()
		case "--namespace", "-n":
			namespace = val()
		case "-f", "--values":
			valueFiles.Set(val())
		case "--set":
			sets.Set(val())
		case "--set-string":
			setStrings.Set(val())
		case "--kube-version":
			kubeVer = val()
		case "--api-versions", "-a":
			apiVersions.Set(val())
		case "--output", "-o":
			output = val()
		case "--show-values":
			showValues = true
		default:
			if strings.HasPrefix(a, "-") {
				fatal("unknown flag %s", a)
			}
			positional = append(positional, a)
		}
	}
	if len(positional) != 1 {
		fatal("give exactly one chart directory")
	}
	if output != "yaml" && output != "json" {
		fatal("--output is yaml or json")
	}
	c, err := loadChart(positional[0])
	if err != nil {
		fatal("%v", err)
	}

	user := map[string]interface{}{}
	for _, f := range valueFiles {
		m, err := readYAMLMap(f)
		if err != nil {
			fatal("%v", err)
		}
		user = mergeMaps(user, m)
	}
	for _, s := range sets {
		for _, e := range splitUnescaped(s, ',') {
			if err := setValue(user, e, false); err != nil {
				fatal("failed parsing --set data: %v", err)
			}
		}
	}
	for _, s := range setStrings {
		for _, e := range splitUnescaped(s, ',') {
			if err := setValue(user, e, true); err != nil {
				fatal("failed parsing --set-string data: %v", err)
			}
		}
	}
	vals, err := coalesce(user, c.values, "")
	if err != nil {
		fatal("%v", err)
	}
	if c.schema != nil {
		if err := validateSchema(c.meta.Name, c.schema, vals); err != nil {
			fatal("%v", err)
		}
	}
	if showValues {
		b, _ := json.Marshal(vals)
		fmt.Println(string(b))
		return
	}

	kv, err := semver.NewVersion(kubeVer)
	if err != nil {
		fatal("--kube-version %q: %v", kubeVer, err)
	}
	if c.meta.KubeVersion != "" {
		cons, _ := semver.NewConstraint(c.meta.KubeVersion)
		if !cons.Check(kv) {
			fatal("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.meta.KubeVersion, kubeVer)
		}
	}
	metaJSON, _ := json.Marshal(c.meta)
	chartObj := map[string]interface{}{}
	_ = json.Unmarshal(metaJSON, &chartObj)
	// Templates see Chart.yaml's fields capitalised (.Chart.Name, .Chart.AppVersion).
	chartVals := map[string]interface{}{}
	for k, v := range chartObj {
		chartVals[strings.ToUpper(k[:1])+k[1:]] = v
	}
	chartVals["APIVersion"] = c.meta.APIVersion
	top := map[string]interface{}{
		"Values": vals,
		"Chart":  chartVals,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": capabilities{
			KubeVersion: kubeVersion{
				Version: "v" + kv.String(), GitVersion: "v" + kv.String(),
				Major: strconv.FormatUint(kv.Major(), 10), Minor: strconv.FormatUint(kv.Minor(), 10),
			},
			APIVersions: append(append(versionSet{}, builtinAPIVersions...), apiVersions...),
			HelmVersion: map[string]string{"Version": "v3.16.0"},
		},
		"Files": c.files,
	}
	ms, notes, err := render(c, top)
	if err != nil {
		fatal("%v", err)
	}
	if output == "json" {
		b, _ := json.Marshal(map[string]interface{}{"manifests": ms, "notes": notes})
		fmt.Println(string(b))
		return
	}
	var buf bytes.Buffer
	for _, m := range ms {
		y, _ := yaml.JSONToYAML(m.Object)
		fmt.Fprintf(&buf, "---\n# Source: %s\n%s", m.Source, y)
	}
	os.Stdout.Write(buf.Bytes())
}
