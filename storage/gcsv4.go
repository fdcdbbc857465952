package storage

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/metadata"
)

// gcsSigner makes V4 signed URLs (GOOG4-RSA-SHA256): with the service
// account's private key when the credentials carry one, otherwise through
// the IAM Credentials signBlob call as the service account (which then
// needs roles/iam.serviceAccountTokenCreator on itself).
type gcsSigner struct {
	email string
	key   *rsa.PrivateKey
	hc    *http.Client // for signBlob
}

func newGCSSigner(keyJSON []byte, email string, hc *http.Client) (*gcsSigner, error) {
	s := &gcsSigner{email: email, hc: hc}
	if keyJSON != nil {
		var f struct {
			Type        string `json:"type"`
			ClientEmail string `json:"client_email"`
			PrivateKey  string `json:"private_key"`
		}
		if err := json.Unmarshal(keyJSON, &f); err != nil {
			return nil, errors.New("storage gcs: credentials are not valid JSON")
		}
		if f.Type == "service_account" {
			key, err := parseRSAKey(f.PrivateKey)
			if err != nil {
				return nil, errors.New("storage gcs: service account private_key is not an RSA key")
			}
			s.key, s.email = key, f.ClientEmail
		}
	}
	return s, nil
}

func parseRSAKey(p string) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not RSA")
	}
	return rk, nil
}

// v4Request is what a V4 signed URL grants.
type v4Request struct {
	Method   string
	Endpoint string // scheme://host
	Bucket   string
	Object   string // "" for the bucket itself
	Headers  map[string]string
	Query    map[string]string
	Time     time.Time
	Expires  time.Duration
}

// v4Escape percent-encodes everything but RFC 3986's unreserved characters.
func v4Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// stringToSign builds the canonical request and the string to sign, and
// returns the URL without its signature.
func (r v4Request) stringToSign(email string) (sts, unsigned string) {
	u, _ := url.Parse(r.Endpoint)
	t := r.Time.UTC()
	date, stamp := t.Format("20060102"), t.Format("20060102T150405Z")
	scope := date + "/auto/storage/goog4_request"

	// The published cases sign the host without its port.
	hdr := map[string]string{"host": u.Hostname()}
	for k, v := range r.Headers {
		hdr[strings.ToLower(k)] = strings.Join(strings.Fields(v), " ")
	}
	names := make([]string, 0, len(hdr))
	for k := range hdr {
		names = append(names, k)
	}
	sort.Strings(names)
	var canonHdr strings.Builder
	for _, k := range names {
		canonHdr.WriteString(k + ":" + hdr[k] + "\n")
	}
	signed := strings.Join(names, ";")

	q := map[string]string{
		"X-Goog-Algorithm":     "GOOG4-RSA-SHA256",
		"X-Goog-Credential":    email + "/" + scope,
		"X-Goog-Date":          stamp,
		"X-Goog-Expires":       strconv.FormatInt(int64(r.Expires/time.Second), 10),
		"X-Goog-SignedHeaders": signed,
	}
	for k, v := range r.Query {
		q[k] = v
	}
	keys := make([]string, 0, len(q))
	byEnc := map[string]string{}
	for k, v := range q {
		keys = append(keys, v4Escape(k))
		byEnc[v4Escape(k)] = v4Escape(v)
	}
	sort.Strings(keys)
	enc := make([]string, len(keys))
	for i, k := range keys {
		enc[i] = k + "=" + byEnc[k]
	}
	query := strings.Join(enc, "&")

	path := "/" + r.Bucket
	if r.Object != "" {
		segs := strings.Split(r.Object, "/")
		for i, s := range segs {
			segs[i] = v4Escape(s)
		}
		path += "/" + strings.Join(segs, "/")
	}
	payload := "UNSIGNED-PAYLOAD"
	if v, ok := hdr["x-goog-content-sha256"]; ok {
		payload = v
	}
	canon := strings.Join([]string{r.Method, path, query, canonHdr.String(), signed, payload}, "\n")
	h := sha256.Sum256([]byte(canon))
	sts = "GOOG4-RSA-SHA256\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(h[:])
	return sts, u.Scheme + "://" + u.Host + path + "?" + query
}

func (s *gcsSigner) signURL(ctx context.Context, r v4Request) (string, error) {
	email := s.email
	if email == "" && s.key == nil {
		// On Google Cloud without a key: sign as the attached account.
		e, err := metadata.EmailWithContext(ctx, "default")
		if err != nil {
			return "", errors.New("no service account to sign as: set service_account or use a key file")
		}
		email, s.email = e, e
	}
	sts, unsigned := r.stringToSign(email)
	sig, err := s.sign(ctx, []byte(sts))
	if err != nil {
		return "", err
	}
	return unsigned + "&X-Goog-Signature=" + hex.EncodeToString(sig), nil
}

func (s *gcsSigner) sign(ctx context.Context, msg []byte) ([]byte, error) {
	if s.key != nil {
		h := sha256.Sum256(msg)
		return rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, h[:])
	}
	body, _ := json.Marshal(map[string]string{"payload": base64.StdEncoding.EncodeToString(msg)})
	u := "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" + url.PathEscape(s.email) + ":signBlob"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, scrubErr(err, nil)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("IAM signBlob: HTTP %d", resp.StatusCode)
	}
	var out struct {
		SignedBlob string `json:"signedBlob"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return nil, fmt.Errorf("IAM signBlob: %v", err)
	}
	return base64.StdEncoding.DecodeString(out.SignedBlob)
}
