package jetstream_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

func TestOpenRefusesUnsafeExistingStream(t *testing.T) {
	srv := startServer(t, t.TempDir())
	_, js := rawJS(t, srv.ClientURL())
	cases := []struct {
		setting string
		spoil   func(*njs.StreamConfig)
	}{
		{"storage Memory", func(c *njs.StreamConfig) { c.Storage = njs.MemoryStorage }},
		{"max_age", func(c *njs.StreamConfig) { c.MaxAge = 30 * 24 * time.Hour }},
		{"deny_purge false", func(c *njs.StreamConfig) { c.DenyPurge = false }},
		{"deny_delete false", func(c *njs.StreamConfig) { c.DenyDelete = false }},
		{"max_msgs", func(c *njs.StreamConfig) { c.MaxMsgs = 1_000_000 }},
		{"max_bytes", func(c *njs.StreamConfig) { c.MaxBytes = 1 << 30 }},
		{"max_msgs_per_subject", func(c *njs.StreamConfig) { c.MaxMsgsPerSubject = 100 }},
		{"retention", func(c *njs.StreamConfig) { c.Retention = njs.WorkQueuePolicy }},
		{"allow_msg_ttl", func(c *njs.StreamConfig) { c.AllowMsgTTL = true }},
		{"allow_atomic false", func(c *njs.StreamConfig) { c.AllowAtomicPublish = false }},
		{"allow_direct false", func(c *njs.StreamConfig) { c.AllowDirect = false }},
		{"subjects", func(c *njs.StreamConfig) { c.Subjects = []string{c.Subjects[0][:len(c.Subjects[0])-1] + "douyin.>"} }},
		{"sealed", func(*njs.StreamConfig) {}},
		{"subject_transform", func(c *njs.StreamConfig) {
			c.SubjectTransform = &njs.SubjectTransformConfig{Source: c.Subjects[0], Destination: "x." + c.Subjects[0]}
		}},
	}
	for i, c := range cases {
		t.Run(c.setting, func(t *testing.T) {
			name, prefix := fmt.Sprintf("BAD%d", i), fmt.Sprintf("bad%d", i)
			cfg := goodStreamConfig()
			cfg.Name, cfg.Subjects = name, []string{prefix + ".>"}
			c.spoil(&cfg)
			_, err := js.CreateStream(ctx10(t), cfg)
			require.NoError(t, err)
			if c.setting == "sealed" { // only an update can seal a stream
				cfg.Sealed = true
				_, err = js.UpdateStream(ctx10(t), cfg)
				require.NoError(t, err)
			}

			_, err = jetstream.Open(t.Context(), jetstream.Config{URL: srv.ClientURL(), StreamName: name, SubjectPrefix: prefix})
			require.Error(t, err)
			require.Contains(t, err.Error(), "refusing stream "+name)
			require.Contains(t, err.Error(), c.setting, "the error names the setting")

			// The stream is left as it was: nothing changed it.
			st, err := js.Stream(ctx10(t), name)
			require.NoError(t, err)
			require.Equal(t, cfg.Storage, st.CachedInfo().Config.Storage)
			require.Equal(t, cfg.MaxAge, st.CachedInfo().Config.MaxAge)
		})
	}
	t.Run("control: the safe configuration opens", func(t *testing.T) {
		_, err := js.CreateStream(ctx10(t), goodStreamConfig())
		require.NoError(t, err)
		s, err := jetstream.Open(t.Context(), jetstream.Config{URL: srv.ClientURL()})
		require.NoError(t, err)
		st := streamID("ok")
		_, err = s.Append(ctx10(t), st, eventstore.NoStream, newEvs("Opened", 2))
		require.NoError(t, err)
		require.NoError(t, s.Close())
	})
}

func TestOpenEmbeddedRefusesStreamWithMaxAge(t *testing.T) {
	dir := t.TempDir()
	// An operator (or an older release) created the stream with an age limit.
	func() {
		srv := startServer(t, dir)
		_, js := rawJS(t, srv.ClientURL())
		cfg := goodStreamConfig()
		cfg.MaxAge = 7 * 24 * time.Hour
		_, err := js.CreateStream(ctx10(t), cfg)
		require.NoError(t, err)
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	_, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
	require.Error(t, err)
	require.Contains(t, err.Error(), "max_age")
	// The refused Open released the data dir.
	_, err = jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
	require.ErrorContains(t, err, "max_age", "still refused, and not because of a leftover lock")
}

func TestOpenCreatesSafeStream(t *testing.T) {
	srv := startServer(t, t.TempDir())
	s, err := jetstream.Open(t.Context(), jetstream.Config{URL: srv.ClientURL()})
	require.NoError(t, err)
	defer s.Close()
	_, js := rawJS(t, srv.ClientURL())
	st, err := js.Stream(ctx10(t), jetstream.DefaultStreamName)
	require.NoError(t, err)
	c := st.CachedInfo().Config
	require.Equal(t, njs.FileStorage, c.Storage)
	require.Equal(t, njs.LimitsPolicy, c.Retention)
	require.Equal(t, []string{"ledger.>"}, c.Subjects)
	require.True(t, c.DenyDelete)
	require.True(t, c.DenyPurge)
	require.True(t, c.AllowAtomicPublish)
	require.True(t, c.AllowDirect)
	require.LessOrEqual(t, c.MaxMsgs, int64(0))
	require.LessOrEqual(t, c.MaxBytes, int64(0))
	require.Zero(t, c.MaxAge)
	require.LessOrEqual(t, c.MaxMsgsPerSubject, int64(0))
	// DenyDelete and DenyPurge are one-way: the server refuses to turn them off.
	c.DenyPurge = false
	_, err = js.UpdateStream(ctx10(t), c)
	require.Error(t, err)
}

func TestOpenRefusesDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
	require.NoError(t, err)
	_, err = jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
	require.ErrorContains(t, err, "in use")
	require.NoError(t, s.Close())
	s, err = jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
	require.NoError(t, err, "Close releases the data dir")
	require.NoError(t, s.Close())
}

func TestOpenRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]jetstream.Config{
		"neither dir nor URL":      {},
		"both dir and URL":         {DataDir: dir, URL: "nats://127.0.0.1:1"},
		"unknown sync":             {DataDir: dir, Sync: "sometimes"},
		"interval without mode":    {DataDir: dir, SyncInterval: time.Second},
		"embedded R3":              {DataDir: dir, Replicas: 3},
		"R2":                       {URL: "nats://127.0.0.1:1", Replicas: 2},
		"sync on external":         {URL: "nats://127.0.0.1:1", Sync: jetstream.SyncAlways},
		"listener on external":     {URL: "nats://127.0.0.1:1", ListenAddr: "127.0.0.1:-1"},
		"creds on embedded":        {DataDir: dir, CredsFile: "x.creds"},
		"stream name with a dot":   {DataDir: dir, StreamName: "LED.GER"},
		"prefix with a wildcard":   {DataDir: dir, SubjectPrefix: "ledger.*"},
		"prefix with empty token":  {DataDir: dir, SubjectPrefix: "a..b"},
		"batch below append limit": {DataDir: dir, MaxBatchEvents: 10},
		"bad listen address":       {DataDir: dir, ListenAddr: "localhost"},
	}
	for name, cfg := range cases {
		_, err := jetstream.Open(t.Context(), cfg)
		require.Error(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), "jetstream: "), "%s: %v", name, err)
	}
}

func TestServerVersionCheck(t *testing.T) {
	for v, ok := range map[string]bool{
		"2.15.2": true, "2.15.3": true, "2.16.0": true, "3.0.0": true, "v2.15.2": true,
		"2.15.2+build": true, "2.15.10": true,
		"2.15.1": false, "2.14.9": false, "2.12.1": false, "1.99.99": false,
		"2.15.2-rc.1": false, "2.15": false, "": false, "garbage": false,
	} {
		require.Equal(t, ok, jetstream.VersionAtLeast(v, jetstream.MinServerVersion), v)
	}
}
