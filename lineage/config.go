package lineage

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the `openlineage:` section of elt.yaml.
type Config struct {
	Transport TransportConfig `yaml:"transport"`
	// Namespace is the job namespace; the project name when empty.
	Namespace string `yaml:"namespace"`
	// Disabled turns emission off without removing the section.
	Disabled bool `yaml:"disabled"`
}

// TransportConfig says where events go.
type TransportConfig struct {
	// Type is http, file or console.
	Type string `yaml:"type"`
	// URL and Endpoint (default api/v1/lineage) of the http transport.
	URL      string `yaml:"url"`
	Endpoint string `yaml:"endpoint"`
	// APIKey is sent as a Bearer token; it is a secret and never logged.
	APIKey string `yaml:"api_key"`
	// Timeout of one HTTP request (default 5s).
	Timeout time.Duration `yaml:"-"`
	// Path of the file transport (JSON lines, appended).
	Path string `yaml:"path"`
}

// Environment variables the OpenLineage clients read.
const (
	EnvURL       = "OPENLINEAGE_URL"
	EnvAPIKey    = "OPENLINEAGE_API_KEY"
	EnvNamespace = "OPENLINEAGE_NAMESPACE"
	EnvEndpoint  = "OPENLINEAGE_ENDPOINT"
	EnvDisabled  = "OPENLINEAGE_DISABLED"
)

// DefaultEndpoint is the path of the lineage API on the receiver.
const DefaultEndpoint = "api/v1/lineage"

// Resolve merges cfg (nil when elt.yaml has no openlineage: section) with
// the OPENLINEAGE_* environment variables, as the OpenLineage clients do:
// OPENLINEAGE_URL makes an http transport when the file names none,
// OPENLINEAGE_API_KEY fills a missing api_key, OPENLINEAGE_NAMESPACE
// overrides the namespace. It returns nil when lineage is off.
func Resolve(cfg *Config, getenv func(string) string, project string) (*Config, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if v := getenv(EnvDisabled); strings.EqualFold(v, "true") || c.Disabled {
		return nil, nil
	}
	if c.Transport.Type == "" {
		if u := getenv(EnvURL); u != "" {
			c.Transport.Type = "http"
			c.Transport.URL = u
			c.Transport.Endpoint = getenv(EnvEndpoint)
		} else if cfg == nil {
			return nil, nil
		}
	}
	if c.Transport.Type == "http" && c.Transport.APIKey == "" {
		c.Transport.APIKey = getenv(EnvAPIKey)
	}
	if ns := getenv(EnvNamespace); ns != "" {
		c.Namespace = ns
	}
	if c.Namespace == "" {
		c.Namespace = project
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// FieldError is a Validate error about one setting of the openlineage:
// section; Field is its dotted path (transport.type, transport.url,
// transport.path, namespace) so that callers can point at its line.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "openlineage: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Validate checks the transport settings and the namespace.
func (c *Config) Validate() error {
	t := c.Transport
	switch t.Type {
	case "http":
		if t.URL == "" {
			return fieldErr("transport.url", "transport http needs url; write url: http://host:5000 (or set %s)", EnvURL)
		}
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldErr("transport.url", "%q is not an http(s) URL; write url: http://host:5000", RedactURL(t.URL))
		}
	case "file":
		if t.Path == "" {
			return fieldErr("transport.path", "transport file needs path; add path:, e.g. .elt/lineage.jsonl")
		}
	case "console":
	case "":
		return fieldErr("transport.type", "transport: needs type: http, file or console")
	default:
		return fieldErr("transport.type", "%q is not http, file or console", t.Type)
	}
	if strings.TrimSpace(c.Namespace) == "" || strings.TrimSpace(c.Namespace) != c.Namespace {
		return fieldErr("namespace", "%q must be a name without leading or trailing spaces, e.g. namespace: analytics", c.Namespace)
	}
	return nil
}

// endpointURL joins the receiver URL and the endpoint.
func (t TransportConfig) endpointURL() string {
	ep := t.Endpoint
	if ep == "" {
		ep = DefaultEndpoint
	}
	return strings.TrimRight(t.URL, "/") + "/" + strings.TrimLeft(ep, "/")
}

// RedactURL drops user info and query from a URL for messages.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// OSGetenv is os.Getenv, for Resolve.
func OSGetenv(k string) string { return os.Getenv(k) }
