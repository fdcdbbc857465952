package index

import "github.com/iisbridge/iisbridge/sources"

// IdentityConfig says how records are tied to persons (sources.IdentityConfig):
// the source applies its rules, the index hashes Patient ids with its salt.
type IdentityConfig = sources.IdentityConfig

// DefaultIdentity is right for CDC-style IIS traffic.
func DefaultIdentity() IdentityConfig { return sources.DefaultIdentity() }
