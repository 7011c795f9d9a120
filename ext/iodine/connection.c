/*
 * connection.c: WebSocket/SSE/raw TCP connection events, clients and
 * pub/sub, in and out.
 *
 * In: a connection's event (or a pub/sub delivery for an Iodine.subscribe
 * block) arrives as a task; it becomes one call to Iodine::Base.on_event /
 * on_pubsub (lib/iodine/connection.rb, pubsub.rb), which find the handler.
 * Afterwards Go is told the event is done, so the connection's next event
 * can go out: a connection's callbacks never overlap.
 * Out: Iodine::Base's thin methods below, used by Iodine::Connection and
 * Iodine::PubSub. None of them blocks: Go queues the bytes.
 */
#include "iodine_ext.h"

#include <ruby/encoding.h>

static ID id_on_event, id_on_pubsub;

#define EV_PTR(e, s) ((char *)(e) + (s).off)

static VALUE event_data(iodine_event_t *e) {
  if (e->flags & IODINE_EV_BINARY)
    return rb_str_new(EV_PTR(e, e->data), e->data.len);
  return rb_utf8_str_new(EV_PTR(e, e->data), e->data.len);
}

static VALUE dispatch(VALUE arg) {
  iodine_event_t *e = (iodine_event_t *)arg;
  VALUE channel = e->channel.len
                      ? rb_utf8_str_new(EV_PTR(e, e->channel), e->channel.len)
                      : Qnil;
  if (e->kind == IODINE_TASK_PUBSUB)
    return rb_funcall(IodineBase, id_on_pubsub, 3, ULL2NUM(e->handle), channel,
                      event_data(e));
  VALUE data = (e->data.len || e->event == IODINE_EV_MESSAGE ||
                e->event == IODINE_EV_PUBSUB)
                   ? event_data(e)
                   : Qnil;
  return rb_funcall(IodineBase, id_on_event, 5, ULL2NUM(e->handle),
                    INT2FIX(e->event), data, ULL2NUM(e->sub), channel);
}

/* Runs one event's Ruby side. The handlers' exceptions are logged in Ruby;
 * anything else (Thread#kill) is passed on once Go knows we are done. */
int iodine_handle_event(iodine_event_t *e) {
  int state = 0;
  rb_protect(dispatch, (VALUE)e, &state);
  if (e->kind == IODINE_TASK_CONN)
    iodine_go.conn_done(e->handle);
  return state;
}

/* ---- Iodine::Base methods for Iodine::Connection and Iodine::PubSub ---- */

#define ID_ARG(v) ((uint64_t)NUM2ULL(v))

/* A string goes out as binary when it is binary (or not valid text). */
static int is_binary(VALUE str) {
  return rb_enc_get_index(str) == rb_ascii8bit_encindex() ||
         rb_enc_str_coderange(str) == ENC_CODERANGE_BROKEN;
}

/* conn_write(id, data, notify_drained) -> backlog bytes, or -1 if closed */
static VALUE conn_write(VALUE self, VALUE id, VALUE data, VALUE notify) {
  iodine_go_require();
  StringValue(data);
  int flags = (is_binary(data) ? IODINE_WRITE_BINARY : 0) |
              (RTEST(notify) ? IODINE_WRITE_NOTIFY : 0);
  int64_t n = iodine_go.conn_write(ID_ARG(id), RSTRING_PTR(data),
                                   RSTRING_LEN(data), flags);
  RB_GC_GUARD(data);
  return LL2NUM(n);
}

static VALUE conn_write_sse(VALUE self, VALUE id, VALUE event_id, VALUE event,
                            VALUE data, VALUE notify) {
  iodine_go_require();
  StringValue(event_id);
  StringValue(event);
  StringValue(data);
  int64_t n = iodine_go.conn_write_sse(
      ID_ARG(id), RSTRING_PTR(event_id), RSTRING_LEN(event_id),
      RSTRING_PTR(event), RSTRING_LEN(event), RSTRING_PTR(data),
      RSTRING_LEN(data), RTEST(notify));
  RB_GC_GUARD(event_id);
  RB_GC_GUARD(event);
  RB_GC_GUARD(data);
  return LL2NUM(n);
}

static VALUE conn_close(VALUE self, VALUE id) {
  iodine_go_require();
  iodine_go.conn_close(ID_ARG(id));
  return Qnil;
}

static VALUE conn_pending(VALUE self, VALUE id) {
  iodine_go_require();
  return LL2NUM(iodine_go.conn_pending(ID_ARG(id)));
}

static VALUE conn_timeout(VALUE self, VALUE id) {
  iodine_go_require();
  return INT2NUM(iodine_go.conn_timeout(ID_ARG(id)));
}

static VALUE conn_set_timeout(VALUE self, VALUE id, VALUE seconds) {
  iodine_go_require();
  iodine_go.conn_set_timeout(ID_ARG(id), NUM2INT(seconds));
  return seconds;
}

/* subscribe(conn_id or 0, channel, pattern, to_ruby) -> subscription id */
static VALUE subscribe(VALUE self, VALUE conn_id, VALUE channel,
                       VALUE pattern, VALUE to_ruby) {
  iodine_go_require();
  StringValue(channel);
  uint64_t id = iodine_go.subscribe(ID_ARG(conn_id), RSTRING_PTR(channel),
                                    RSTRING_LEN(channel), RTEST(pattern),
                                    RTEST(to_ruby));
  RB_GC_GUARD(channel);
  return ULL2NUM(id);
}

static VALUE unsubscribe(VALUE self, VALUE conn_id, VALUE channel,
                         VALUE pattern) {
  iodine_go_require();
  StringValue(channel);
  int found = iodine_go.unsubscribe(ID_ARG(conn_id), RSTRING_PTR(channel),
                                    RSTRING_LEN(channel), RTEST(pattern));
  RB_GC_GUARD(channel);
  return found ? Qtrue : Qfalse;
}

static VALUE unsubscribe_id(VALUE self, VALUE id) {
  iodine_go_require();
  iodine_go.unsubscribe_id(ID_ARG(id));
  return Qnil;
}

/* publish(channel, message, cluster) -> true, false if it was dropped */
static VALUE publish(VALUE self, VALUE channel, VALUE msg, VALUE cluster) {
  iodine_go_require();
  StringValue(channel);
  StringValue(msg);
  int rc = iodine_go.publish(RSTRING_PTR(channel), RSTRING_LEN(channel),
                             RSTRING_PTR(msg), RSTRING_LEN(msg),
                             is_binary(msg), RTEST(cluster));
  RB_GC_GUARD(channel);
  RB_GC_GUARD(msg);
  if (rc < 0)
    rb_raise(rb_eArgError, "pub/sub channel names are limited to 64 KiB and "
                           "messages to 16 MiB");
  return rc ? Qtrue : Qfalse;
}

/* conn_new_id -> the id a client connection will have */
static VALUE conn_new_id(VALUE self) {
  iodine_go_require();
  return ULL2NUM(iodine_go.conn_new_id());
}

/* connect(id, kind, url, headers, idle_seconds, max_msg): dials in the
 * background; the connection's events follow (on_close alone if it fails). */
static VALUE base_connect(VALUE self, VALUE id, VALUE kind, VALUE url,
                          VALUE headers, VALUE idle, VALUE max_msg) {
  iodine_go_require();
  StringValue(headers);
  iodine_go.connect(ID_ARG(id), NUM2INT(kind), StringValueCStr(url),
                    RSTRING_PTR(headers), RSTRING_LEN(headers), NUM2INT(idle),
                    NUM2INT(max_msg));
  RB_GC_GUARD(url);
  RB_GC_GUARD(headers);
  return Qnil;
}

static VALUE hub_serve(VALUE self, VALUE path) {
  iodine_go_require();
  char err[256] = "";
  if (iodine_go.pubsub_hub_serve(StringValueCStr(path), err, sizeof(err)) < 0)
    rb_raise(IodineError, "pub/sub hub: can't listen on %s: %s",
             StringValueCStr(path), err);
  return Qtrue;
}

static VALUE hub_connect(VALUE self, VALUE path) {
  iodine_go_require();
  iodine_go.pubsub_hub_connect(StringValueCStr(path));
  return Qtrue;
}

/* iodine.h's values for Ruby (lib/iodine/connection.rb, client.rb): the
 * header is their one source. */
static void define_constants(void) {
  static const struct {
    const char *name;
    int value;
  } consts[] = {
      {"EV_OPEN", IODINE_EV_OPEN},
      {"EV_MESSAGE", IODINE_EV_MESSAGE},
      {"EV_DRAINED", IODINE_EV_DRAINED},
      {"EV_SHUTDOWN", IODINE_EV_SHUTDOWN},
      {"EV_CLOSE", IODINE_EV_CLOSE},
      {"EV_RECONNECT", IODINE_EV_RECONNECT},
      {"EV_PUBSUB", IODINE_EV_PUBSUB},
      {"EV_TIMEOUT", IODINE_EV_TIMEOUT},
      {"EV_SSE", IODINE_EV_SSE},
      {"EV_ACCEPT", IODINE_EV_ACCEPT},
      {"CLIENT_WEBSOCKET", IODINE_CLIENT_WEBSOCKET},
      {"CLIENT_SSE", IODINE_CLIENT_SSE},
      {"CLIENT_RAW", IODINE_CLIENT_RAW},
  };
  for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
    rb_define_const(IodineBase, consts[i].name, INT2FIX(consts[i].value));
}

void iodine_init_connection(void) {
  define_constants();
  id_on_event = rb_intern("on_event");
  id_on_pubsub = rb_intern("on_pubsub");
  rb_define_singleton_method(IodineBase, "conn_write", conn_write, 3);
  rb_define_singleton_method(IodineBase, "conn_write_sse", conn_write_sse, 5);
  rb_define_singleton_method(IodineBase, "conn_close", conn_close, 1);
  rb_define_singleton_method(IodineBase, "conn_pending", conn_pending, 1);
  rb_define_singleton_method(IodineBase, "conn_timeout", conn_timeout, 1);
  rb_define_singleton_method(IodineBase, "conn_set_timeout", conn_set_timeout,
                             2);
  rb_define_singleton_method(IodineBase, "subscribe", subscribe, 4);
  rb_define_singleton_method(IodineBase, "unsubscribe", unsubscribe, 3);
  rb_define_singleton_method(IodineBase, "unsubscribe_id", unsubscribe_id, 1);
  rb_define_singleton_method(IodineBase, "publish", publish, 3);
  rb_define_singleton_method(IodineBase, "conn_new_id", conn_new_id, 0);
  rb_define_singleton_method(IodineBase, "connect", base_connect, 6);
  rb_define_singleton_method(IodineBase, "hub_serve", hub_serve, 1);
  rb_define_singleton_method(IodineBase, "hub_connect", hub_connect, 1);
}
