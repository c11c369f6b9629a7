package main

import (
	"fmt"
	"net/url"
)

// -target: the mix against an external payoutd over HTTP. The sender
// exists (http.go: httpSender, the one the -http runs use against payoutd
// started in this process), but an external payoutd lacks three things
// the mix needs, so -target is refused rather than measuring something
// else:
//
//   - tokens: the mix acts as each shop's main account and two
//     sub-accounts and as an operator, and a staff token reaches one shop:
//     one -token cannot speak for them (a -tokens FILE of per-shop,
//     per-account tokens would);
//   - setup: the shops are appended to the store in atomic batches
//     (about 40 commands a shop through the API otherwise, and a shop may
//     not be registered twice on a long-lived server);
//   - timers: card expiries and closes need a clock days ahead of the
//     server's; in process they go through a handler with that clock on
//     payoutd's store, which an external payoutd does not expose.
func checkTarget(target, token string) error {
	if target == "" {
		return nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-target: %q is not an http(s)://host:port URL", target)
	}
	if token == "" {
		return fmt.Errorf("-target: a bearer -token is required")
	}
	return fmt.Errorf("-target %s: an external payoutd cannot run the mix (per-shop tokens, batched setup and the timers' clock: see cmd/payoutbench/target.go); -http (the default) measures payoutd's HTTP API started in this process", target)
}
