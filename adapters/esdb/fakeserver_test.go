package esdb

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fakeServer is an in-process stand-in for the EventStoreDB gRPC Streams
// API, written for these tests from the protocol (protos/streams.proto)
// and what the client v4.1.0 expects. It models the semantics the adapter
// relies on, as we understand them; it is NOT EventStoreDB, and passing
// against it proves the adapter's logic and its use of the client, not the
// server's behaviour. What it models:
//   - $all positions are sparse byte offsets (commit == prepare); reading
//     from an offset that starts no record is refused, like the server;
//   - $all holds system events and foreign streams besides ours;
//   - expected revision checks, and idempotent re-appends (same IDs after
//     the expected revision) answered with success and no position;
//   - stream reads report the $all position of each event (servers since
//     the 22.x series do);
//   - $all subscriptions: exclusive start, stream-prefix filter, a
//     checkpoint and a caught-up notice, then live events;
//   - tombstoned streams answer with the "stream-deleted" trailer.
type fakeServer struct {
	api.UnimplementedStreamsServer

	mu         sync.Mutex
	log        []fakeRecord
	byStream   map[string][]int // stream -> indexes in log
	tombstoned map[string]bool
	next       uint64        // position of the next record (end of the log)
	changed    chan struct{} // closed and replaced on every append
	maxAppend  int
	// idempotentPosition makes idempotent re-appends report a position,
	// in case a server does; default: no position.
	idempotentPosition bool
	// failReads, when > 0, fails that many $all reads with Unavailable.
	failReads int
	// headReads counts backwards stream reads of one event (head reads).
	headReads int

	addr string
	srv  *grpc.Server
}

type fakeRecord struct {
	stream   string
	revision uint64
	id       uuid.UUID
	typ      string
	data     []byte
	meta     []byte
	created  time.Time
	pos      uint64
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{
		byStream:   map[string][]int{},
		tombstoned: map[string]bool{},
		next:       4096, // the log starts with the server's own records
		changed:    make(chan struct{}),
		maxAppend:  DefaultMaxAppendBytes,
	}
	// What a real $all holds besides the ledger: system and foreign events.
	f.appendRaw("$stats-127.0.0.1:2113", "$statsCollected", []byte(`{}`), nil)
	f.appendRaw("$$orders-1", "$metadata", []byte(`{"$maxAge":1}`), nil)
	f.appendRaw("orders-1", "OrderPlaced", []byte(`{"n":1}`), nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f.addr = lis.Addr().String()
	f.srv = grpc.NewServer()
	api.RegisterStreamsServer(f.srv, f)
	go func() { _ = f.srv.Serve(lis) }()
	t.Cleanup(f.srv.Stop)
	return f
}

// url is the connection string of the fake: one attempt at discovery, so
// that a test against a stopped fake fails fast.
func (f *fakeServer) url() string {
	return "esdb://" + f.addr + "?tls=false&maxDiscoverAttempts=1&discoveryInterval=10&gossipTimeout=2"
}

// appendRaw appends without checks (the test's own setup and foreign
// writers). Callers must not hold f.mu.
func (f *fakeServer) appendRaw(stream, typ string, data, meta []byte) fakeRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.appendLocked(stream, typ, uuid.New(), data, meta)
}

func (f *fakeServer) appendLocked(stream, typ string, id uuid.UUID, data, meta []byte) fakeRecord {
	rec := fakeRecord{
		stream: stream, revision: uint64(len(f.byStream[stream])), id: id, typ: typ,
		data: data, meta: meta, created: time.Now(), pos: f.next,
	}
	// Records take their size plus a header in the log, like the server's.
	f.next += uint64(100 + len(stream) + len(typ) + len(data) + len(meta))
	f.byStream[stream] = append(f.byStream[stream], len(f.log))
	f.log = append(f.log, rec)
	close(f.changed)
	f.changed = make(chan struct{})
	return rec
}

func (f *fakeServer) tombstone(stream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tombstoned[stream] = true
}

func deletedErr(srv interface{ SetTrailer(metadata.MD) }, stream string) error {
	srv.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", stream))
	return status.Error(codes.FailedPrecondition, "stream deleted")
}

func (f *fakeServer) Append(srv api.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "first message must be options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	var msgs []*api.AppendReq_ProposedMessage
	size := 0
	for {
		req, err := srv.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		m := req.GetProposedMessage()
		size += len(m.GetData()) + len(m.GetCustomMetadata()) + 2*len(m.GetMetadata()["type"])
		if size > f.maxAppend {
			return status.Error(codes.InvalidArgument, "Maximum Append Size exceeded")
		}
		msgs = append(msgs, m)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tombstoned[stream] {
		return deletedErr(srv, stream)
	}
	current := int64(len(f.byStream[stream])) - 1 // -1: no stream
	expected := int64(-2)                         // -2: any
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		expected = int64(e.Revision)
	case *api.AppendReq_Options_NoStream:
		expected = -1
	case *api.AppendReq_Options_StreamExists:
		if current < 0 {
			return srv.SendAndClose(wrongExpected(current, -3))
		}
	}
	if expected != -2 && expected != current {
		// EventStoreDB's idempotency: the same IDs right after the
		// expected revision is a retry, acknowledged without writing.
		if expected < current && f.sameIDsLocked(stream, expected, msgs) {
			last := f.log[f.byStream[stream][expected+int64(len(msgs))]]
			ok := &api.AppendResp_Success{CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: last.revision}}
			if f.idempotentPosition {
				ok.PositionOption = &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: last.pos, PreparePosition: last.pos}}
			} else {
				ok.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
			}
			return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: ok}})
		}
		return srv.SendAndClose(wrongExpected(current, expected))
	}
	var last fakeRecord
	for _, m := range msgs {
		id, err := uuidFromProto(m.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		last = f.appendLocked(stream, m.GetMetadata()["type"], id, m.GetData(), m.GetCustomMetadata())
	}
	return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: last.revision},
		PositionOption:        &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: last.pos, PreparePosition: last.pos}},
	}}})
}

func (f *fakeServer) sameIDsLocked(stream string, expected int64, msgs []*api.AppendReq_ProposedMessage) bool {
	idx := f.byStream[stream]
	if expected+int64(len(msgs)) >= int64(len(idx)) {
		return false
	}
	for i, m := range msgs {
		id, err := uuidFromProto(m.GetId())
		if err != nil || f.log[idx[expected+1+int64(i)]].id != id {
			return false
		}
	}
	return true
}

func wrongExpected(current, expected int64) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if current < 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
	}
	switch {
	case expected == -1:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case expected >= 0:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(expected)}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

func (f *fakeServer) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o.GetSubscription() != nil {
		if o.GetAll() == nil {
			return status.Error(codes.Unimplemented, "fake: stream subscriptions")
		}
		return f.subscribe(o, srv)
	}
	f.mu.Lock()
	recs, notFound, err := f.readLocked(o, srv)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if notFound != "" {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(notFound)}}}})
	}
	for _, r := range recs {
		if err := srv.Send(eventResp(r, o.GetAll() != nil)); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeServer) readLocked(o *api.ReadReq_Options, srv api.Streams_ReadServer) ([]fakeRecord, string, error) {
	n := int(o.GetCount())
	back := o.GetReadDirection() == api.ReadReq_Options_Backwards
	var recs []fakeRecord
	if so := o.GetStream(); so != nil {
		stream := string(so.GetStreamIdentifier().GetStreamName())
		if f.tombstoned[stream] {
			return nil, "", deletedErr(srv, stream)
		}
		idx, ok := f.byStream[stream]
		if !ok {
			return nil, stream, nil
		}
		if back && n == 1 {
			f.headReads++
		}
		var from int64
		switch r := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Revision:
			from = int64(min(r.Revision, uint64(len(idx))))
		case *api.ReadReq_Options_StreamOptions_End:
			from = int64(len(idx)) - 1
		}
		for i := from; i >= 0 && i < int64(len(idx)) && len(recs) < n; {
			recs = append(recs, f.log[idx[i]])
			if back {
				i--
			} else {
				i++
			}
		}
		return recs, "", nil
	}
	if f.failReads > 0 {
		f.failReads--
		return nil, "", status.Error(codes.Unavailable, "fake: unavailable")
	}
	ao := o.GetAll()
	switch {
	case ao.GetEnd() != nil && back:
		for i := len(f.log) - 1; i >= 0 && len(recs) < n; i-- {
			recs = append(recs, f.log[i])
		}
		return recs, "", nil
	case back:
		return nil, "", status.Error(codes.Unimplemented, "fake: backwards $all from a position")
	}
	start := 0
	if p := ao.GetPosition(); p != nil {
		i, err := f.indexLocked(p.GetCommitPosition(), p.GetPreparePosition())
		if err != nil {
			return nil, "", err
		}
		start = i
	}
	for i := start; i < len(f.log) && len(recs) < n; i++ {
		recs = append(recs, f.log[i])
	}
	return recs, "", nil
}

// indexLocked finds the first record at or after a position that must be
// a record start (or the end of the log), as the server demands.
func (f *fakeServer) indexLocked(commit, prepare uint64) (int, error) {
	if commit != prepare || commit > f.next {
		return 0, status.Error(codes.Unknown, "Trying to read from an invalid position.")
	}
	if commit == f.next {
		return len(f.log), nil
	}
	for i, r := range f.log {
		if r.pos == commit {
			return i, nil
		}
	}
	return 0, status.Error(codes.Unknown, "Trying to read from an invalid position.")
}

func (f *fakeServer) subscribe(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	var prefixes []string
	if fo := o.GetFilter(); fo != nil {
		if fo.GetStreamIdentifier() == nil || fo.GetStreamIdentifier().GetRegex() != "" {
			return status.Error(codes.Unimplemented, "fake: only stream prefix filters")
		}
		prefixes = fo.GetStreamIdentifier().GetPrefix()
	}
	f.mu.Lock()
	next := 0
	if p := o.GetAll().GetPosition(); p != nil {
		i, err := f.indexLocked(p.GetCommitPosition(), p.GetPreparePosition())
		if err != nil {
			f.mu.Unlock()
			return err
		}
		next = i
		if next < len(f.log) && f.log[next].pos == p.GetCommitPosition() {
			next++ // a subscription starts after its position
		}
	} else if o.GetAll().GetEnd() != nil {
		next = len(f.log)
	}
	f.mu.Unlock()
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: "fake"}}}); err != nil {
		return err
	}
	caughtUp := false
	for {
		f.mu.Lock()
		batch := append([]fakeRecord(nil), f.log[next:]...)
		next = len(f.log)
		end, changed := f.next, f.changed
		f.mu.Unlock()
		for _, r := range batch {
			if !hasAnyPrefix(r.stream, prefixes) {
				continue
			}
			if err := srv.Send(eventResp(r, true)); err != nil {
				return err
			}
		}
		if !caughtUp {
			caughtUp = true
			cp := &api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{CommitPosition: end, PreparePosition: end}}}
			if err := srv.Send(cp); err != nil {
				return err
			}
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-srv.Context().Done():
			return srv.Context().Err()
		case <-changed:
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func eventResp(r fakeRecord, all bool) *api.ReadResp {
	most, least := esdb.UUIDAsInt64(r.id)
	ev := &api.ReadResp_ReadEvent{Event: &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}},
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
		StreamRevision:   r.revision,
		PreparePosition:  r.pos,
		CommitPosition:   r.pos,
		Metadata: map[string]string{
			"type":         r.typ,
			"content-type": "application/json",
			// .NET ticks (100 ns) since the Unix epoch, as the server sends.
			"created": strconv.FormatInt(r.created.UnixNano()/100, 10),
		},
		CustomMetadata: r.meta,
		Data:           r.data,
	}}
	if all {
		ev.Position = &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos}
	} else {
		ev.Position = &api.ReadResp_ReadEvent_NoPosition{NoPosition: &shared.Empty{}}
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: ev}}
}

func uuidFromProto(id *shared.UUID) (uuid.UUID, error) {
	if s := id.GetStructured(); s != nil {
		return esdb.ParseUUIDFromInt64(s.GetMostSignificantBits(), s.GetLeastSignificantBits())
	}
	return uuid.Parse(id.GetString_())
}

// openFake opens a Store on the fake with a prefix of its own.
func openFake(t *testing.T, f *fakeServer, opts Options) *Store {
	t.Helper()
	if opts.StreamPrefix == "" {
		opts.StreamPrefix = fmt.Sprintf("ledgertest-%s-", strings.ReplaceAll(uuid.NewString(), "-", "")[:12])
	}
	if opts.Logger == nil {
		opts.Logger = esdb.NoopLogging()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, f.url(), opts)
	if err != nil {
		t.Fatalf("open fake: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// set changes the fake's knobs under its lock.
func (f *fakeServer) set(fn func(f *fakeServer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeServer) heads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headReads
}
