package bulkclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// redactURL drops a URL's query and user info: signed file URLs carry
// their credential there, and errors and logs must not.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
}

// redactErr rewrites the URL net/http puts into its errors.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return err
}

// describeFailure renders a failed response: status, then the
// OperationOutcome's issues when the body is one, else a short excerpt of
// a text body. Tokens never appear in responses a server sends, and the
// request's own headers are not shown.
func describeFailure(resp *http.Response, body []byte) string {
	s := resp.Status
	if msg := outcomeText(body); msg != "" {
		return s + ": " + msg
	}
	var oauth struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &oauth) == nil && oauth.Error != "" {
		return strings.TrimSuffix(s+": "+oauth.Error+": "+oauth.Description, ": ")
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") || strings.Contains(ct, "json") {
		if t := strings.TrimSpace(string(body)); t != "" && utf8.ValidString(t) {
			if len(t) > 200 {
				t = t[:200] + "…"
			}
			return s + ": " + t
		}
	}
	return s
}

// outcomeText summarizes an OperationOutcome: "severity code: text" per
// issue, joined by "; ". Empty when body is not one.
func outcomeText(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string `json:"severity"`
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return ""
	}
	var parts []string
	for _, is := range oo.Issue {
		text := is.Diagnostics
		if text == "" {
			text = is.Details.Text
		}
		parts = append(parts, strings.TrimSuffix(fmt.Sprintf("%s %s: %s", is.Severity, is.Code, text), ": "))
	}
	if len(parts) == 0 {
		return "OperationOutcome without issues"
	}
	return strings.Join(parts, "; ")
}

// outcomeHasCode says whether body is an OperationOutcome with an issue
// of this code (the IG's "transient" marks a retryable status failure).
func outcomeHasCode(body []byte, code string) bool {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code string `json:"code"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return false
	}
	for _, is := range oo.Issue {
		if is.Code == code {
			return true
		}
	}
	return false
}
