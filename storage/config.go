package storage

import (
	"fmt"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// Part sizes. S3 needs parts of at least 5 MiB (except the last) and at most
// 10,000 of them, so 8 MiB parts carry objects up to 78 GiB; GCS needs chunks
// in multiples of 256 KiB (the gcs backend rounds up).
const (
	DefaultPartSize = 8 << 20
	MinPartSize     = 5 << 20
	MaxPartSize     = 512 << 20
)

// Config is the `storage:` block of the server configuration. String fields
// may hold ${ENV} references, expanded by Open; their values never appear
// in logs or errors. Fields a kind does not use are ignored.
type Config struct {
	Kind   string `yaml:"kind"`   // local (default), s3, azblob, gcs
	Prefix string `yaml:"prefix"` // key prefix inside the bucket/container
	// PartSize is the size of one upload part and so of the one buffer a
	// Writer holds (default 8 MiB).
	PartSize int64 `yaml:"part_size"`
	// Retries is how many times a failing part is retried (default 4), with
	// exponential backoff from RetryBase (default 250ms).
	Retries   int           `yaml:"retries"`
	RetryBase time.Duration `yaml:"retry_base"`

	// local
	Dir    string `yaml:"dir"` // default: the server's data dir + "/files"
	Signer Signer `yaml:"-"`   // set by the server: signs local file URLs

	// s3 and gcs
	Bucket string `yaml:"bucket"`
	// Endpoint overrides the service address: "host:port" or a URL
	// (http:// for a local S3 server or emulator).
	Endpoint string `yaml:"endpoint"`

	// s3
	Region          string `yaml:"region"`
	PathStyle       bool   `yaml:"path_style"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	SessionToken    string `yaml:"session_token"`

	// azblob
	Account    string `yaml:"account"`
	Container  string `yaml:"container"`
	AccountKey string `yaml:"account_key"`

	// gcs
	CredentialsFile string `yaml:"credentials_file"` // service account JSON
	ServiceAccount  string `yaml:"service_account"`  // signer e-mail when signing through IAM
	// Anonymous sends no token (emulators); signing still needs a key.
	Anonymous bool `yaml:"anonymous"`

	// transport replaces the HTTP transport in tests (fault injection).
	transport http.RoundTripper
}

// secrets are the fields never shown anywhere.
func (c Config) secrets() []string {
	var s []string
	for _, v := range []string{c.SecretAccessKey, c.SessionToken, c.AccountKey} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// String shows a configuration without its secrets, for logs.
func (c Config) String() string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	c.SecretAccessKey, c.SessionToken, c.AccountKey = mask(c.SecretAccessKey), mask(c.SessionToken), mask(c.AccountKey)
	return fmt.Sprint(c.fields())
}

func (c Config) fields() map[string]any {
	m := map[string]any{}
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "-" || v.Field(i).IsZero() {
			continue
		}
		m[tag] = v.Field(i).Interface()
	}
	return m
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${NAME} in every string field by the environment variable
// NAME; an unset variable is an error that names the variable and the field,
// never a value.
func (c Config) expand() (Config, error) {
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.String {
			continue
		}
		var missing string
		s := envRef.ReplaceAllStringFunc(f.String(), func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			val, ok := os.LookupEnv(name)
			if !ok && missing == "" {
				missing = name
			}
			return val
		})
		if missing != "" {
			tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
			return c, fmt.Errorf("storage: %s: environment variable %s is not set", tag, missing)
		}
		f.SetString(s)
	}
	if c.Retries == 0 {
		c.Retries = 4
	}
	if c.RetryBase == 0 {
		c.RetryBase = 250 * time.Millisecond
	}
	return c, nil
}

// scrub removes secrets and URL query strings (SAS tokens, signatures,
// upload ids) from an error message.
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return urlQuery.ReplaceAllString(msg, "$1?[redacted]")
}

var urlQuery = regexp.MustCompile(`(https?://[^\s?"']*)\?[^\s"']*`)

// scrubbed is an error whose message was scrubbed; Unwrap keeps errors.Is
// working for ErrNotExist and context errors.
type scrubbed struct {
	msg string
	err error
}

func (s scrubbed) Error() string { return s.msg }
func (s scrubbed) Unwrap() error { return s.err }

func scrubErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return scrubbed{scrub(err.Error(), secrets), err}
}
