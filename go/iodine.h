/*
 * iodine.h: every crossing between the Go core and the Ruby C glue.
 *
 * The Go library is built with -buildmode=c-shared and loaded with dlopen()
 * by the C extension, after any fork (the Go runtime is not fork-safe). The
 * extension never links against it: it looks up the functions below with
 * dlsym() and checks iodine_abi_version() first.
 *
 * Direction of each call:
 *   Go  -> C  : iodine_queue_push (C code compiled into the Go library).
 *   Ruby thread (C) -> C : iodine_queue_wait / try_pop / interrupt (no Go).
 *   Ruby thread (C) -> Go: the iodine_* functions exported by Go.
 *
 * No Go pointer ever reaches C: Go copies each request into one malloc()ed
 * block (iodine_task_t), and C hands responses to Go as (pointer, length)
 * pairs that Go copies before returning.
 */
#ifndef IODINE_H
#define IODINE_H

#include <stddef.h>
#include <stdint.h>

#define IODINE_ABI_VERSION 8

/* A string inside a task block: byte offset from the block start, length. */
typedef struct {
  uint32_t off;
  uint32_t len;
} iodine_span_t;

/* Task kinds travelling the queue to Ruby threads. */
enum iodine_task_kind {
  IODINE_TASK_HTTP = 1,   /* an HTTP request for a Rack app (iodine_task_t) */
  IODINE_TASK_CONN = 2,   /* a WebSocket/SSE/raw TCP connection's event (iodine_event_t) */
  IODINE_TASK_PUBSUB = 3, /* a message for an Iodine.subscribe block */
  IODINE_TASK_TIMER = 4,  /* a due timer's run (iodine_event_t, no data) */
};

/* iodine_task_t.flags */
enum iodine_task_flags {
  IODINE_REQ_TLS = 1,        /* arrived over TLS: rack.url_scheme = https */
  IODINE_REQ_BODY_FILE = 2,  /* body lives in body_fd (an unlinked temp file) */
  IODINE_REQ_HEAD = 4,       /* HEAD request: the body is never sent */
  IODINE_REQ_HTTP10 = 8,     /* HTTP/1.0: no chunked encoding, so streams are buffered */
  IODINE_REQ_WEBSOCKET = 16, /* a valid WebSocket handshake: rack.upgrade? = :websocket */
  IODINE_REQ_SSE = 32,       /* Accept: text/event-stream: rack.upgrade? = :sse */
};

/*
 * One request, copied by Go into a single malloc()ed block. Spans point into
 * the same block. The consumer (the C extension) frees it with free().
 */
typedef struct iodine_task {
  struct iodine_task *next; /* queue link, owned by the queue */
  uint64_t handle;          /* identifies the waiting request on the Go side */
  uint32_t kind;            /* enum iodine_task_kind */
  uint32_t listener;        /* index of the listener (Iodine.listen) */
  uint32_t flags;           /* enum iodine_task_flags */
  int32_t body_fd;          /* temp file with the body, or -1 */
  uint64_t body_len;        /* body length (in memory or in the file) */
  iodine_span_t method, path, query, version, remote_addr, server_name,
      server_port, request_uri, body;
  uint32_t header_count; /* pairs of spans (CGI name, value) at headers_off */
  uint32_t headers_off;
} iodine_task_t;

/* iodine_event_t.event for IODINE_TASK_CONN */
enum iodine_event_type {
  IODINE_EV_OPEN = 1,      /* the connection is open (on_open) */
  IODINE_EV_MESSAGE = 2,   /* data: the message (flags: IODINE_EV_BINARY) */
  IODINE_EV_DRAINED = 3,   /* the outgoing backlog emptied */
  IODINE_EV_SHUTDOWN = 4,  /* the server is stopping; close follows */
  IODINE_EV_CLOSE = 5,     /* always the last event of a connection */
  IODINE_EV_RECONNECT = 6, /* SSE Last-Event-ID: data holds it */
  IODINE_EV_PUBSUB = 7,    /* sub: subscription id, channel and data */
  IODINE_EV_TIMEOUT = 8,   /* a raw TCP connection was idle for its timeout */
  IODINE_EV_SSE = 9,       /* an SSE client got an event: channel holds
                              "id\nevent name", data the data */
  IODINE_EV_ACCEPT = 10,   /* a raw TCP service accepted the connection: sub
                              is its listener's index, data the peer's
                              address; stands for on_open too */
};

/* iodine_event_t.flags */
enum iodine_event_flags {
  IODINE_EV_BINARY = 1, /* data is binary (else UTF-8 text) */
};

/*
 * Every task that is not an HTTP request: a connection's event, a pub/sub
 * delivery or a timer. It shares iodine_task_t's first three fields (the
 * queue link, handle and kind), so the queue carries both; the consumer
 * reads kind and casts. handle is the connection id (IODINE_TASK_CONN),
 * the subscription id (IODINE_TASK_PUBSUB) or the timer id
 * (IODINE_TASK_TIMER).
 */
typedef struct iodine_event {
  struct iodine_task *next;
  uint64_t handle;
  uint32_t kind;
  uint32_t event; /* enum iodine_event_type (IODINE_TASK_CONN) */
  uint64_t sub;   /* the subscription of an IODINE_EV_PUBSUB event */
  uint32_t flags; /* enum iodine_event_flags */
  uint32_t unused;
  iodine_span_t channel, data; /* offsets from the block start */
} iodine_event_t;

/* ---------- the task queue (C, compiled into the Go library) ---------- */

typedef struct iodine_waiter iodine_waiter_t;

/* Go: copy a task block into C memory and wake the most recently idle thread. */
void iodine_queue_push(const void *block, size_t len);
/* Ruby thread, GVL released: block until a task arrives, the waiter is
 * interrupted or the queue closes. Returns NULL unless a task was taken. */
iodine_task_t *iodine_queue_wait(iodine_waiter_t *w);
/* Ruby thread, GVL held: take a queued task without waiting (or NULL). */
iodine_task_t *iodine_queue_try_pop(void);
/* Unblocking function: wake this waiter so Ruby can handle interrupts. */
void iodine_queue_interrupt(iodine_waiter_t *w);
/* Wake every waiter and make iodine_queue_wait return NULL from now on. */
void iodine_queue_close(void);
int iodine_queue_is_closed(void);
iodine_waiter_t *iodine_waiter_new(void);
void iodine_waiter_free(iodine_waiter_t *w);

/* ---------- clients (Iodine::Connection.new(url)) ---------- */

/* iodine_connect kinds */
enum iodine_client_kind {
  IODINE_CLIENT_WEBSOCKET = 1, /* ws:// wss:// */
  IODINE_CLIENT_SSE = 2,       /* http:// https:// as an EventSource */
  IODINE_CLIENT_RAW = 3,       /* tcp:// unix:// */
};

/* ---------- listener configuration (C -> Go, copied by Go) ----------
 * Every value is set by Ruby (lib/iodine/listener_settings.rb owns the
 * defaults and converts the user's units); the names carry the unit. */

typedef struct {
  const char *address;      /* host/IP, or a Unix socket path when unix != 0 */
  int32_t port;
  int32_t unix_socket;
  int64_t max_body_bytes;   /* 413 above */
  int32_t max_header_bytes; /* the whole header block; 431 above */
  int32_t max_line_bytes;   /* one header line / request target; 431/414 */
  int32_t max_header_count; /* 431 above */
  int32_t keep_alive_s;     /* idle keep-alive timeout */
  int64_t body_spill_bytes; /* bodies above go to a temp file */
  int32_t fd;               /* a listening socket inherited from the cluster
                               master (then address/port are ignored), or -1 */
  const char *public_folder; /* static files served by Go ("" for none) */
  int32_t max_age_s;        /* static files' Cache-Control max-age */
  int32_t log;              /* 1: log every request (access log) */
  int32_t max_msg_bytes;    /* WebSocket message limit; close 1009 above */
  int32_t ping_s;           /* WebSocket/SSE keep-alive ping interval */
  int32_t raw;              /* 1: a raw TCP service (no HTTP); keep_alive_s
                               is then the idle time before on_timeout */
} iodine_listen_cfg_t;

/*
 * The cluster's load board: one slot per worker in memory the master
 * mapped shared (MAP_SHARED|MAP_ANONYMOUS) before forking. A worker counts
 * its open connections in its slot; before accepting, one that is ahead
 * of the least loaded accepting worker lets it take the connection.
 */
typedef struct {
  int64_t conns;     /* open connections (atomic) */
  int32_t accepting; /* 1 while this worker accepts */
  int32_t unused;
} iodine_board_slot_t;

/* iodine_conn_write's flags. */
enum iodine_write_flags {
  IODINE_WRITE_BINARY = 1, /* a binary WebSocket frame (else text) */
  IODINE_WRITE_NOTIFY = 2, /* send IODINE_EV_DRAINED once it is written */
};

/* Response flags for iodine_respond. */
enum iodine_respond_flags {
  IODINE_RESP_STREAM = 1, /* more body follows via iodine_stream_write */
  IODINE_RESP_FILE = 2,   /* body is a file path (to_path / X-Sendfile) */
};

/*
 * Go exports (see go/exports.go). Headers are a packed list of
 * [uint32 name_len][name][uint32 value_len][value] in host byte order.
 *
 * iodine_respond copies headers and body before returning, except with
 * IODINE_RESP_STREAM, where body (the first chunk) must come from malloc()
 * and Go frees it. iodine_stream_write always takes a malloc()ed chunk and
 * frees it; it blocks while the client is behind (call it without the GVL)
 * and returns 0 once the client is gone. iodine_stream_end(aborted = 1)
 * cuts the response short and closes the connection. iodine_hijack blocks
 * (call it without the GVL) and returns a duplicate of the socket, or -1.
 */
#ifndef IODINE_GO_SIDE
int iodine_abi_version(void);
void iodine_set_verbosity(int level);
int iodine_listen(iodine_listen_cfg_t *cfg, char *err, int err_len);
int iodine_listener_port(int id);
void iodine_use_board(iodine_board_slot_t *board, int slots, int mine);
int iodine_start(int gomaxprocs);
void iodine_stop(int timeout_ms);
int iodine_stopped(void);
int iodine_respond(uint64_t handle, int status, char *headers, size_t headers_len,
                   char *body, size_t body_len, int flags);
int iodine_stream_write(uint64_t handle, char *data, size_t len);
void iodine_stream_end(uint64_t handle, int aborted);
int iodine_hijack(uint64_t handle);

/* ---- WebSocket / SSE / raw TCP connections (go/rtconn.go, conn_websocket.go,
 *      conn_sse.go, conn_raw.go) ----
 * iodine_upgrade answers an upgrade request: Go completes the handshake and
 * from then on the connection's id is the request's handle. Its events
 * arrive as IODINE_TASK_CONN tasks, one at a time: the next is queued only
 * after Ruby calls iodine_conn_done for the previous one.
 * iodine_conn_write never blocks: it queues the bytes and returns the
 * backlog in bytes, or -1 once the connection is closed. */
int iodine_upgrade(uint64_t handle, char *headers, size_t headers_len);
void iodine_conn_done(uint64_t id);
int64_t iodine_conn_write(uint64_t id, char *data, size_t len, int flags);
int64_t iodine_conn_write_sse(uint64_t id, char *event_id, size_t id_len,
                              char *event, size_t event_len, char *data,
                              size_t data_len, int notify);
void iodine_conn_close(uint64_t id);
int64_t iodine_conn_pending(uint64_t id);
void iodine_conn_set_timeout(uint64_t id, int seconds);
int iodine_conn_timeout(uint64_t id);

/* ---- pub/sub (go/pubsub.go, pubsub_cluster.go) ----
 * conn_id 0 subscribes the process (its block gets IODINE_TASK_PUBSUB
 * tasks); otherwise the connection: with to_ruby its block runs as an
 * IODINE_EV_PUBSUB event, without it Go writes messages straight to the
 * client. Returns the subscription id. iodine_publish's scope: 0 this
 * process, 1 the whole cluster. */
uint64_t iodine_subscribe(uint64_t conn_id, char *channel, size_t len,
                          int pattern, int to_ruby);
int iodine_unsubscribe(uint64_t conn_id, char *channel, size_t len,
                       int pattern);
void iodine_unsubscribe_id(uint64_t sub_id);
int iodine_publish(char *channel, size_t channel_len, char *msg,
                   size_t msg_len, int binary, int scope);
/* Cluster relay: the hub process serves path; workers connect to it. */
int iodine_pubsub_hub_serve(char *path, char *err, int err_len);
void iodine_pubsub_hub_connect(char *path);

/* ---- clients (go/client.go, conn_client_sse.go) ----
 * iodine_connect dials url (kind: enum iodine_client_kind) in the
 * background as connection id, taken from iodine_conn_new_id first so Ruby
 * knows the id before any event: IODINE_EV_OPEN follows, or
 * IODINE_EV_CLOSE alone when it fails. headers: "Name: value" lines. idle:
 * the WebSocket ping interval or the raw TCP timeout, seconds. */
uint64_t iodine_conn_new_id(void);
void iodine_connect(uint64_t id, int kind, char *url, char *headers,
                    size_t headers_len, int idle, int max_msg);

/* ---- timers (go/timers.go) ----
 * iodine_timer_add schedules timer id (chosen by Ruby) to run after
 * delay_ms, then every interval_ms, repetitions times in all (0: forever);
 * -1 once the server is stopping (or if id is taken). Each run arrives as an
 * IODINE_TASK_TIMER task; the next is scheduled only after Ruby calls
 * iodine_timer_done for it, at the later of the previous due time plus the
 * interval and now. iodine_timer_done returns 1 while the timer goes on, 0
 * once it is over (its last run, or dropped by iodine_stop). */
int iodine_timer_add(uint64_t id, int64_t delay_ms, int64_t interval_ms,
                     int64_t repetitions);
int iodine_timer_done(uint64_t id);
#endif

#endif /* IODINE_H */
