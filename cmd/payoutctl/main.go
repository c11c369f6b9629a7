// Command payoutctl is the ledger's operator and audit tooling:
//
//	payoutctl token     create|list|revoke [--data DIR]         payoutd's bearer tokens (docs/tokens.md)
//	payoutctl tail      --subject 'ledger.douyin.>' [--url URL] the events as a NATS consumer sees them
//	payoutctl replay    --data DIR --views DIR [--until TIME]   rebuild every projection from position 0
//	payoutctl verify    --data DIR [--views DIR]                check every hash chain; compare the read models with a rebuild
//	payoutctl reconcile --data DIR --statement FILE             match succeeded payouts against a statement
//
// --data is the data directory of the embedded event store (the one
// payoutd and payoutdemo -data use); --views the directory of the embedded
// read-model store. Each subcommand has --help; docs/projections.md
// describes replay and verify. This file only dispatches: one file per
// subcommand.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	_ "time/tzdata" // shops' time zones without relying on the host's zoneinfo
)

// subcommand runs with the arguments after its name and returns the exit
// status.
type subcommand struct {
	run     func(args []string, stdout, stderr io.Writer) int
	summary string
}

var subcommands = map[string]subcommand{
	"replay":    {runReplay, "rebuild every projection from position 0 (or as of an instant) into a fresh read-model store"},
	"verify":    {runVerify, "check every stream's hash chain and compare the read models with a fresh rebuild"},
	"reconcile": {runReconcile, "match the ledger's succeeded payouts against an external statement CSV"},
	"tail":      {runTail, "print the ledger's events from NATS as they are stored (a JetStream consumer)"},
	"token":     {runToken, "issue, list and revoke payoutd's bearer tokens (create | list | revoke)"},
}

func main() { os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr)) }

// dispatch runs the subcommand named by args[0]. Exit status 2 for a
// missing or unknown subcommand.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	c, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "payoutctl: unknown subcommand %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: payoutctl <subcommand> [flags]   (payoutctl <subcommand> --help for its flags)")
	fmt.Fprintln(w)
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, subcommands[n].summary)
	}
}
