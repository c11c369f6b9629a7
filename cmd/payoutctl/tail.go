package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/adapters/jetstream"
)

const tailUsage = `usage: payoutctl tail --subject SUBJECT [--url URL] [--creds FILE] [--stream NAME]
                     [--from-start | --since DURATION | --new] [--count N] [--json]

Print the ledger's events as they are stored, one line per event:

    <position> <subject> <type> <event id> <recorded at> <body>

or, with --json, one JSON object per line. It reads through a JetStream
ordered consumer, like any downstream consumer should (docs/subjects.md):
only stored events, in commit order; a core NATS subscription would also
show appends the stream refused. It connects to a running ledger (payoutd
with a listener, or the NATS cluster of an external store); it never
writes. Stop it with Ctrl-C.

SUBJECT filters like a consumer's filter: ledger.> (everything),
ledger.douyin.> (one platform), ledger.*.*.PayoutInitiated (one type).

Flags:
`

// tailOptions are the parsed flags of tail.
type tailOptions struct {
	subject, url, creds, stream string
	deliver                     njs.DeliverPolicy
	since                       time.Duration
	count                       int
	json                        bool
}

// runTail is `payoutctl tail`; it stops on SIGINT or SIGTERM with status 0.
func runTail(args []string, stdout, stderr io.Writer) int {
	opts, done, status := parseTail(args, stdout, stderr)
	if done {
		return status
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := tail(ctx, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "payoutctl tail: %v\n", err)
		return exitProblems
	}
	return exitOK
}

func parseTail(args []string, stdout, stderr io.Writer) (tailOptions, bool, int) {
	var o tailOptions
	fs := flag.NewFlagSet("payoutctl tail", flag.ContinueOnError)
	fs.StringVar(&o.subject, "subject", "", "subject filter, e.g. 'ledger.douyin.>' (required)")
	fs.StringVar(&o.url, "url", "nats://127.0.0.1:4222", "NATS server(s), comma-separated")
	fs.StringVar(&o.creds, "creds", "", "NATS credentials file (JWT + nkey seed) of a read-only user")
	fs.StringVar(&o.stream, "stream", jetstream.DefaultStreamName, "JetStream stream holding the events (LEDGER_EVENTS for the EventStoreDB relay)")
	fromStart := fs.Bool("from-start", false, "print every stored event first")
	since := fs.Duration("since", 0, "print the events recorded in the last DURATION first (e.g. 15m)")
	newOnly := fs.Bool("new", false, "print only events stored from now on (the default)")
	fs.IntVar(&o.count, "count", 0, "stop after N events (0: until interrupted)")
	fs.BoolVar(&o.json, "json", false, "one JSON object per line")
	if done, status := parseFlags(fs, args, tailUsage, stdout, stderr); done {
		return o, true, status
	}
	n := 0
	for _, set := range []bool{*fromStart, *since != 0, *newOnly} {
		if set {
			n++
		}
	}
	switch {
	case o.subject == "":
		fmt.Fprintln(stderr, "payoutctl tail: --subject is required (run `payoutctl tail --help`)")
		return o, true, exitUsage
	case n > 1:
		fmt.Fprintln(stderr, "payoutctl tail: --from-start, --since and --new are exclusive")
		return o, true, exitUsage
	case *since < 0 || o.count < 0:
		fmt.Fprintln(stderr, "payoutctl tail: --since and --count must not be negative")
		return o, true, exitUsage
	}
	switch {
	case *fromStart:
		o.deliver = njs.DeliverAllPolicy
	case *since > 0:
		o.deliver, o.since = njs.DeliverByStartTimePolicy, *since
	default:
		o.deliver = njs.DeliverNewPolicy
	}
	return o, false, exitOK
}

// tailLine is one event in --json output.
type tailLine struct {
	Position      uint64          `json:"position"`
	Subject       string          `json:"subject"`
	Stream        string          `json:"stream"`
	Version       uint64          `json:"version"`
	Type          string          `json:"type"`
	ID            string          `json:"id"`
	SchemaVersion int             `json:"schema_version"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Data          json.RawMessage `json:"data"`
	Error         string          `json:"error,omitempty"` // not a well-formed ledger event
}

// tail prints events until ctx is done (nil) or count events were printed.
func tail(ctx context.Context, o tailOptions, out io.Writer) error {
	copts := []nats.Option{nats.Name("payoutctl-tail")}
	if o.creds != "" {
		copts = append(copts, nats.UserCredentials(o.creds))
	}
	nc, err := nats.Connect(o.url, copts...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", o.url, err)
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return err
	}
	cfg := njs.OrderedConsumerConfig{FilterSubjects: []string{o.subject}, DeliverPolicy: o.deliver}
	if o.deliver == njs.DeliverByStartTimePolicy {
		at := time.Now().Add(-o.since)
		cfg.OptStartTime = &at
	}
	setup, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(setup, o.stream, cfg)
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", o.stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", o.stream, err)
	}
	defer it.Stop()
	enc := json.NewEncoder(out)
	for n := 0; o.count == 0 || n < o.count; n++ {
		m, err := it.Next(njs.NextContext(ctx))
		if ctx.Err() != nil {
			return nil // interrupted: a clean stop
		}
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		// Decode refuses what is not a ledger event; tail shows such a
		// message rather than stopping on it (it is a diagnostic tool).
		e, derr := jetstream.Decode(m.Subject(), md.Sequence.Stream, m.Headers(), m.Data())
		if o.json {
			l := tailLine{Position: md.Sequence.Stream, Subject: m.Subject(), Stream: e.Stream, Version: e.Version, Type: e.Type,
				SchemaVersion: e.SchemaVersion, RecordedAt: e.RecordedAt, Data: m.Data()}
			if derr == nil {
				l.ID = e.ID.String()
			} else {
				l.Error = derr.Error()
			}
			if !json.Valid(l.Data) {
				l.Data, _ = json.Marshal(string(m.Data()))
			}
			if err := enc.Encode(l); err != nil {
				return err
			}
			continue
		}
		h := m.Headers()
		if derr != nil {
			fmt.Fprintf(out, "%d %s malformed: %v\n", md.Sequence.Stream, m.Subject(), derr)
			continue
		}
		body := string(m.Data())
		if strings.ContainsAny(body, "\r\n") { // one line per event
			body = strconv.Quote(body)
		}
		fmt.Fprintf(out, "%d %s %s %s %s %s\n", md.Sequence.Stream, m.Subject(), e.Type, h.Get(jetstream.HeaderCEID), h.Get(jetstream.HeaderCETime), body)
	}
	return nil
}
