// Package membership decides which organizations the learned Groups
// belong to and which evidence makes a member: the policy applied, when
// reading, to the ledger the index keeps of every kind of evidence
// (index.LedgerEntry, pipeline.Membership). Applying it when reading
// means a policy change takes effect at the next Group refresh, with no
// re-index.
//
// Organizations: without a table every sender is an organization of its
// own (its key: MSH-22 XON-10 when filled, else MSH-4 as
// "namespace|universal id"). With a table, each organization lists the
// sender codes that are it (MSH-22 ids or MSH-4 values, written
// "namespace|universal id", "namespace" or the universal id alone);
// evidence from a sender outside the table makes no Group and is counted
// (Unknown) for the index output and /metrics.
//
// Triggers, per organization, defaults in DefaultTriggers:
//   - vxu: any (default: every VXU about the person: administered,
//     historical, refusal, also corrections), administered (only VXUs with
//     a dose given there, RXA-9 00), off.
//   - query: a QBP^Q11 answered by an RSP^K11 (QAK-2 OK, MSA-2 = the QBP's
//     MSH-10) naming exactly one person (default true).
//   - unanswered_query: a QBP whose answer is missing from the log,
//     matched on its QPD demographics, counted only on a confident single
//     match (default false).
package membership

import (
	"fmt"
	"strings"
)

// Triggers (the index's ledger names them; index.Trigger*).
const (
	TriggerVXU          = "vxu"
	TriggerAdministered = "vxu-administered"
	TriggerHistorical   = "vxu-historical"
	TriggerRefusal      = "vxu-refusal"
	TriggerQuery        = "query"
	TriggerQueryMatched = "query-matched"
)

// VXU policies.
const (
	VXUAny          = "any"
	VXUAdministered = "administered"
	VXUOff          = "off"
)

// Triggers says which evidence makes a member.
type Triggers struct {
	VXU             string // VXUAny, VXUAdministered, VXUOff
	Query           bool
	UnansweredQuery bool
}

// DefaultTriggers: any VXU, answered queries; not unanswered ones.
func DefaultTriggers() Triggers { return Triggers{VXU: VXUAny, Query: true} }

// Validate checks the VXU policy.
func (t Triggers) Validate() error {
	switch t.VXU {
	case VXUAny, VXUAdministered, VXUOff:
		return nil
	}
	return fmt.Errorf("vxu: want any, administered or off, not %q", t.VXU)
}

// Accepts says whether evidence of kind trigger makes a member. Evidence
// without a trigger (a source that records links directly) always does.
func (t Triggers) Accepts(trigger string) bool {
	switch trigger {
	case "":
		return true
	case TriggerVXU, TriggerHistorical, TriggerRefusal:
		return t.VXU == VXUAny
	case TriggerAdministered:
		return t.VXU == VXUAny || t.VXU == VXUAdministered
	case TriggerQuery:
		return t.Query
	case TriggerQueryMatched:
		return t.UnansweredQuery
	}
	return false
}

// Organization is one entry of the organizations table.
type Organization struct {
	Key     string   // the Group's identifier value (urn:iisbridge:organization)
	Name    string   // Group name; "" = the name the messages carry
	Senders []string // MSH-22 ids or MSH-4 values that are this organization
	// Triggers overrides the policy's defaults (nil: the defaults).
	Triggers *Triggers
}

// Policy is the organizations table and the triggers.
type Policy struct {
	Organizations []Organization // empty: every sender is its own organization
	Defaults      Triggers

	bySender map[string]int
}

// New checks and indexes a policy.
func New(orgs []Organization, defaults Triggers) (*Policy, error) {
	if err := defaults.Validate(); err != nil {
		return nil, fmt.Errorf("triggers: %w", err)
	}
	p := &Policy{Organizations: orgs, Defaults: defaults, bySender: map[string]int{}}
	keys := map[string]bool{}
	for i, o := range orgs {
		if strings.TrimSpace(o.Key) == "" {
			return nil, fmt.Errorf("organizations[%d]: key is required", i)
		}
		if keys[o.Key] {
			return nil, fmt.Errorf("organizations[%d]: key %q twice", i, o.Key)
		}
		keys[o.Key] = true
		if o.Triggers != nil {
			if err := o.Triggers.Validate(); err != nil {
				return nil, fmt.Errorf("organizations[%d].triggers: %w", i, err)
			}
		}
		if len(o.Senders) == 0 {
			return nil, fmt.Errorf("organizations[%d]: senders: at least one MSH-22 id or MSH-4 value is required", i)
		}
		for j, s := range o.Senders {
			k := norm(s)
			if k == "" {
				return nil, fmt.Errorf("organizations[%d].senders[%d]: empty", i, j)
			}
			if prev, dup := p.bySender[k]; dup && prev != i {
				return nil, fmt.Errorf("organizations[%d].senders[%d]: %q is already organization %q's", i, j, s, orgs[prev].Key)
			}
			p.bySender[k] = i
		}
	}
	return p, nil
}

// Default is the policy without a table and with the default triggers.
func Default() *Policy {
	p, _ := New(nil, DefaultTriggers())
	return p
}

func norm(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// Table says whether an organizations table is configured.
func (p *Policy) Table() bool { return len(p.Organizations) > 0 }

// Org is the organization behind a sender.
type Org struct {
	Key, Name string
	Triggers  Triggers
}

// Resolve finds the organization of a sender: orgKey (MSH-22 id, else
// MSH-4 "namespace|universal id") and facility (its MSH-4 when orgKey is
// the MSH-22 id). Without a table the sender is its own organization;
// with one, ok is false for a sender outside it. name is the name the
// messages carry.
func (p *Policy) Resolve(orgKey, facility, name string) (o Org, ok bool) {
	if !p.Table() {
		return Org{Key: orgKey, Name: name, Triggers: p.Defaults}, orgKey != ""
	}
	for _, c := range candidates(orgKey, facility) {
		if i, found := p.bySender[c]; found {
			e := p.Organizations[i]
			o = Org{Key: e.Key, Name: e.Name, Triggers: p.Defaults}
			if o.Name == "" {
				o.Name = e.Key
			}
			if e.Triggers != nil {
				o.Triggers = *e.Triggers
			}
			return o, true
		}
	}
	return Org{}, false
}

// candidates are the table codes a sender may be listed under, most
// specific first: the org key, then MSH-4 whole, its namespace, its
// universal id.
func candidates(orgKey, facility string) []string {
	out := []string{norm(orgKey)}
	for _, hd := range []string{orgKey, facility} {
		if hd == "" {
			continue
		}
		out = append(out, norm(hd))
		if ns, uid, found := strings.Cut(hd, "|"); found {
			if ns != "" {
				out = append(out, norm(ns))
			}
			if uid != "" {
				out = append(out, norm(uid))
			}
		}
	}
	return out
}

// Sender is one sender with its count of VXU and QBP records.
type Sender struct {
	OrgKey, Facility, Name string
	Records                int64
}

// Unknown lists the senders outside the table (none without a table).
func (p *Policy) Unknown(senders []Sender) []Sender {
	if !p.Table() {
		return nil
	}
	var out []Sender
	for _, s := range senders {
		if _, ok := p.Resolve(s.OrgKey, s.Facility, s.Name); !ok {
			out = append(out, s)
		}
	}
	return out
}
