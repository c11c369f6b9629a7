package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
)

const tokenUsage = `usage: payoutctl token <create|list|revoke> [flags]

Issue, list and revoke payoutd's bearer tokens (docs/tokens.md).

  payoutctl token create --data DIR (--shop PLATFORM/SHOP --staff ID --role main|sub | --operator [--platform P]) [--name TEXT]
  payoutctl token list   --data DIR
  payoutctl token revoke --data DIR ID

The tokens live in DIR/tokens.json (or --tokens FILE), which keeps only each
token's SHA-256. A running payoutd sees a new or revoked token within a
second, without a restart. Each subcommand has --help.
`

const tokenCreateUsage = `usage: payoutctl token create --data DIR [--tokens FILE]
         (--shop PLATFORM/SHOP --staff ID --role main|sub | --operator [--platform PLATFORM])
         [--name TEXT]

Issue a bearer token and print it, and only it, on stdout:

  TOKEN=$(payoutctl token create --shop douyin/S1001 --staff alice --role main --name "Alice")

Its ID and what it is bound to go to stderr. The token is shown this once:
the file keeps only its SHA-256, so a lost token cannot be shown again
(revoke it and issue another).

A staff token speaks for one account (--staff, main or sub --role) of one
shop (--shop platform/shop-ID) and reaches that shop only. An operator
token (--operator) records orders, buyer actions and payment results for
every shop of --platform, or of every platform without it.

Exit status: 0 when the token was issued, 1 when the token file cannot be
read or written, 2 on bad flags.

Flags:
`

const tokenListUsage = `usage: payoutctl token list --data DIR [--tokens FILE]

List every token of the file, revoked ones included, oldest first: ID,
kind, shop, staff account, role, name, created and revoked (UTC). Never a
token or a hash.

Exit status: 0, 1 when the token file cannot be read, 2 on bad flags.

Flags:
`

const tokenRevokeUsage = `usage: payoutctl token revoke --data DIR [--tokens FILE] ID

Revoke the token with this ID (the 16 hex digits after "plt_", as
payoutctl token create and list show it). payoutd refuses it within a
second. Revoking a revoked token changes nothing.

Exit status: 0 when the token is revoked (now or before), 1 when no token
has this ID or the file cannot be read or written, 2 on bad flags.

Flags:
`

func runToken(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, tokenUsage)
		return exitOK
	case "create":
		return runTokenCreate(args[1:], stdout, stderr)
	case "list":
		return runTokenList(args[1:], stdout, stderr)
	case "revoke":
		return runTokenRevoke(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "payoutctl token: unknown subcommand %q (create, list or revoke)\n\n", args[0])
	fmt.Fprint(stderr, tokenUsage)
	return exitUsage
}

// tokenFileFlags are the flags that locate the token file.
type tokenFileFlags struct{ data, file *string }

func addTokenFileFlags(fs *flag.FlagSet) tokenFileFlags {
	return tokenFileFlags{
		data: fs.String("data", "./data", "payoutd's data directory: the tokens are in DIR/"+tokens.FileName),
		file: fs.String("tokens", "", "the token file itself (overrides --data)"),
	}
}

func (f tokenFileFlags) open() (*tokens.FileStore, error) {
	if *f.file != "" {
		return tokens.Open(tokens.Config{Path: *f.file})
	}
	if *f.data == "" {
		return nil, errors.New("--data is empty")
	}
	return tokens.Open(tokens.Config{DataDir: *f.data})
}

func runTokenCreate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("payoutctl token create", flag.ContinueOnError)
	where := addTokenFileFlags(fs)
	shop := fs.String("shop", "", "staff token: the shop, PLATFORM/SHOP-ID (douyin/S1001)")
	staff := fs.String("staff", "", "staff token: the account ID")
	role := fs.String("role", "", "staff token: main or sub")
	operator := fs.Bool("operator", false, "an operator token instead of a staff token")
	platform := fs.String("platform", "", "operator token: its only platform (default: every platform)")
	name := fs.String("name", "", "who holds it (free text, shown by list; an operator token's actor ID in events)")
	if done, code := parseFlags(fs, args, tokenCreateUsage, stdout, stderr); done {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "payoutctl token create: "+format+"\n", a...)
		return exitUsage
	}
	spec := tokens.Spec{Name: *name}
	switch {
	case *shop != "" && *operator:
		return bad("--shop and --operator exclude each other (run `payoutctl token create --help`)")
	case *operator:
		if *staff != "" || *role != "" {
			return bad("--staff and --role are for a staff token (--shop), not --operator")
		}
		spec.Kind, spec.Platform = tokens.KindOperator, domain.PlatformID(*platform)
	case *shop != "":
		if *platform != "" {
			return bad("--platform is for --operator; a staff token's platform is the one of --shop")
		}
		p, id, ok := strings.Cut(*shop, "/")
		if !ok {
			return bad("--shop %q: want PLATFORM/SHOP-ID (douyin/S1001)", *shop)
		}
		if *staff == "" || *role == "" {
			return bad("--shop needs --staff and --role main|sub")
		}
		spec.Kind, spec.Platform, spec.ShopID, spec.Staff, spec.Role = tokens.KindStaff, domain.PlatformID(p), id, *staff, domain.Role(*role)
	default:
		return bad("--shop (a staff token) or --operator is required (run `payoutctl token create --help`)")
	}
	st, err := where.open()
	if err != nil {
		fmt.Fprintf(stderr, "payoutctl token create: %v\n", err)
		return exitProblems
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tok, p, err := st.Create(ctx, spec)
	if errors.Is(err, tokens.ErrInvalidSpec) {
		return bad("%v", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "payoutctl token create: %v\n", err)
		return exitProblems
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "payoutctl token create: token %s for %s, in %s\n", p.TokenID, describePrincipal(p), st.Path())
	fmt.Fprintf(stderr, "This token is shown once (on stdout): store it now. Only its SHA-256 is kept;\nif it is lost, revoke it (payoutctl token revoke %s) and create another.\n", p.TokenID)
	return exitOK
}

// describePrincipal says in words what a token is bound to.
func describePrincipal(p tokens.Principal) string {
	var s string
	switch {
	case p.Kind == tokens.KindStaff:
		s = fmt.Sprintf("staff account %s (%s) of shop %s/%s", p.Staff, p.Role, p.Platform, p.ShopID)
	case p.Platform != "":
		s = fmt.Sprintf("the operator of platform %s", p.Platform)
	default:
		s = "the operator of every platform"
	}
	if p.Name != "" {
		s += fmt.Sprintf(", name %q", p.Name)
	}
	return s
}

func runTokenList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("payoutctl token list", flag.ContinueOnError)
	where := addTokenFileFlags(fs)
	if done, code := parseFlags(fs, args, tokenListUsage, stdout, stderr); done {
		return code
	}
	st, err := where.open()
	if err != nil {
		fmt.Fprintf(stderr, "payoutctl token list: %v\n", err)
		return exitProblems
	}
	list, err := st.List(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "payoutctl token list: %v\n", err)
		return exitProblems
	}
	if len(list) == 0 {
		fmt.Fprintf(stderr, "payoutctl token list: no token in %s\n", st.Path())
		return exitOK
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tSHOP\tSTAFF\tROLE\tNAME\tCREATED\tREVOKED")
	for _, e := range list {
		p := e.Principal
		shop := string(p.Platform)
		if p.Kind == tokens.KindStaff {
			shop += "/" + p.ShopID
		} else if shop == "" {
			shop = "*"
		}
		revoked := "-"
		if e.RevokedAt != nil {
			revoked = e.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.TokenID, p.Kind, shop, dash(p.Staff), p.Role, dash(p.Name),
			e.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "payoutctl token list: %v\n", err)
		return exitProblems
	}
	return exitOK
}

func runTokenRevoke(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("payoutctl token revoke", flag.ContinueOnError)
	where := addTokenFileFlags(fs)
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "payoutctl token revoke: "+format+"\n", a...)
		return exitUsage
	}
	// The ID may come before or after the flags: the flag package stops
	// at the first argument, so flags after the ID are parsed apart.
	var id string
	rest := args
	for i, a := range args {
		if !strings.HasPrefix(a, "-") && (i == 0 || !wantsValue(args[i-1])) {
			id, rest = a, append(append([]string{}, args[:i]...), args[i+1:]...)
			break
		}
	}
	if done, code := parseFlags(fs, rest, tokenRevokeUsage, stdout, stderr); done {
		return code
	}
	switch {
	case id == "":
		return bad("the ID of the token to revoke is required (run `payoutctl token revoke --help`)")
	case strings.HasPrefix(id, "plt_"):
		return bad("give the token's ID (the 16 hex digits after plt_, as `payoutctl token list` shows), not the token itself")
	case !tokens.ValidTokenID(id):
		return bad("%q is not a token ID (16 lower-case hex digits, as `payoutctl token list` shows)", id)
	}
	st, err := where.open()
	if err != nil {
		fmt.Fprintf(stderr, "payoutctl token revoke: %v\n", err)
		return exitProblems
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	e, err := st.Revoke(ctx, id)
	switch {
	case errors.Is(err, tokens.ErrAlreadyRevoked):
		fmt.Fprintf(stdout, "token %s (%s) was already revoked at %s\n", id, describePrincipal(e.Principal), e.RevokedAt.UTC().Format(time.RFC3339))
		return exitOK
	case errors.Is(err, tokens.ErrNotFound):
		fmt.Fprintf(stderr, "payoutctl token revoke: no token %s in %s\n", id, st.Path())
		return exitProblems
	case err != nil:
		fmt.Fprintf(stderr, "payoutctl token revoke: %v\n", err)
		return exitProblems
	}
	fmt.Fprintf(stdout, "revoked token %s (%s) at %s\n", id, describePrincipal(e.Principal), e.RevokedAt.UTC().Format(time.RFC3339))
	return exitOK
}

// wantsValue: flag a takes the next argument as its value (--data DIR),
// so that argument is not the ID.
func wantsValue(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "data", "tokens":
		return true
	}
	return false
}
