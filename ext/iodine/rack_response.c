/*
 * rack_response.c: calling the Rack app and handing its response to Go.
 *
 * Headers are packed into a per-thread buffer ([u32 len][name][u32 len]
 * [value]...) and given to Go in one call with the body: a one-element
 * Array body is passed in place, without a copy. to_path bodies and
 * X-Sendfile go to Go as a path. Other bodies are streamed with `each`,
 * one chunk per call. The app's exceptions become a 500 and a log line;
 * the body's close is always called.
 */
#include "iodine_ext.h"

#include <stdlib.h>
#include <unistd.h>

VALUE iodine_rack_input_of(VALUE env);
VALUE iodine_rack_upgrade_of(VALUE env);

/* rb_protect's state for a Ruby exception (vm_core.h's TAG_RAISE). Other
 * states (Thread#kill, throw) are passed on after the request is answered. */
#define IODINE_TAG_RAISE 6

static ID id_call, id_each, id_to_path, id_to_ary, id_close, id_log_exception,
    id_on_upgrade;

static __thread iodine_buf_t headers_buf, body_buf;

/* A growable byte buffer (also used by rack_stream.c). */
void iodine_buf_put(iodine_buf_t *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
      rb_memerror();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void put_header(VALUE name, VALUE value) {
  uint32_t n = (uint32_t)RSTRING_LEN(name), v = (uint32_t)RSTRING_LEN(value);
  iodine_buf_put(&headers_buf, &n, 4);
  iodine_buf_put(&headers_buf, RSTRING_PTR(name), n);
  iodine_buf_put(&headers_buf, &v, 4);
  iodine_buf_put(&headers_buf, RSTRING_PTR(value), v);
}

static int add_header(VALUE name, VALUE value, VALUE unused) {
  if (!RB_TYPE_P(name, T_STRING))
    name = rb_obj_as_string(name);
  /* rack.* keys are for the server (partial hijack), never sent. */
  if (RSTRING_LEN(name) > 5 && !memcmp(RSTRING_PTR(name), "rack.", 5))
    return ST_CONTINUE;
  if (NIL_P(value))
    return ST_CONTINUE;
  if (RB_TYPE_P(value, T_ARRAY)) { /* Rack 3: one line per element */
    for (long i = 0; i < RARRAY_LEN(value); i++)
      put_header(name, rb_obj_as_string(RARRAY_AREF(value, i)));
    return ST_CONTINUE;
  }
  put_header(name, rb_obj_as_string(value)); /* Go splits Rack 2's "\n" */
  return ST_CONTINUE;
}

static VALUE add_header_pair(RB_BLOCK_CALL_FUNC_ARGLIST(pair, unused)) {
  VALUE kv = rb_Array(pair);
  add_header(rb_ary_entry(kv, 0), rb_ary_entry(kv, 1), Qnil);
  return Qnil;
}

static void pack_headers(VALUE headers) {
  headers_buf.len = 0;
  if (RB_TYPE_P(headers, T_HASH))
    rb_hash_foreach(headers, add_header, Qnil);
  else if (!NIL_P(headers))
    rb_block_call(headers, id_each, 0, NULL, add_header_pair, Qnil);
}

typedef struct {
  iodine_task_t *task;
  VALUE app, env, response, body;
  int status;
  int answered;  /* Go has the status and headers */
  int streaming; /* iodine_stream_end is owed */
} request_t;

static VALUE call_app(VALUE arg) {
  request_t *r = (request_t *)arg;
  r->env = iodine_rack_env(r->task);
  iodine_current->env = r->env;
  r->response = rb_funcall(r->app, id_call, 1, r->env);
  return Qnil;
}

static void respond(request_t *r, const char *body, size_t len, int flags) {
  iodine_go.respond(r->task->handle, r->status, headers_buf.p, headers_buf.len,
             (char *)body, len, flags);
  r->answered = 1;
}

static void respond_array(request_t *r, VALUE ary) {
  long n = RARRAY_LEN(ary);
  if (n == 1) {
    VALUE s = RARRAY_AREF(ary, 0);
    StringValue(s);
    respond(r, RSTRING_PTR(s), RSTRING_LEN(s), 0);
    RB_GC_GUARD(s);
    return;
  }
  body_buf.len = 0;
  for (long i = 0; i < n; i++) {
    VALUE s = RARRAY_AREF(ary, i);
    StringValue(s);
    iodine_buf_put(&body_buf, RSTRING_PTR(s), RSTRING_LEN(s));
  }
  respond(r, body_buf.p, body_buf.len, 0);
}

/* One chunk of an `each` body: the first goes out with the headers. */
static VALUE stream_chunk(RB_BLOCK_CALL_FUNC_ARGLIST(chunk, arg)) {
  request_t *r = (request_t *)arg;
  StringValue(chunk);
  size_t len = RSTRING_LEN(chunk);
  if (!len)
    return Qnil; /* an empty chunk would end a chunked body */
  if (r->task->flags & IODINE_REQ_HTTP10) { /* no chunked encoding: buffer */
    iodine_buf_put(&body_buf, RSTRING_PTR(chunk), len);
    return Qnil;
  }
  if (!r->answered)
    r->streaming = 1; /* iodine_stream_end is owed from now on */
  if (!iodine_stream_chunk(r->task->handle, &r->answered, r->status,
                           headers_buf.p, headers_buf.len, RSTRING_PTR(chunk),
                           len))
    rb_iter_break(); /* the client is gone: stop producing */
  return Qnil;
}

typedef struct {
  VALUE body, stream;
} stream_call_t;

static VALUE call_body(VALUE arg) {
  stream_call_t *c = (stream_call_t *)arg;
  return rb_funcall(c->body, id_call, 1, c->stream);
}

/* Rack 3 streaming body: body.call(stream). The stream answers the request,
 * now or later, from any thread; if call raises, the response is cut. */
static void call_streaming_body(request_t *r, VALUE body) {
  stream_call_t c = {body, iodine_stream_new(r->task, r->status, headers_buf.p,
                                             headers_buf.len)};
  r->answered = 1;
  int state = 0;
  rb_protect(call_body, (VALUE)&c, &state);
  if (state) {
    iodine_stream_abort(c.stream);
    rb_jump_tag(state); /* to the request's handler, which logs it */
  }
  RB_GC_GUARD(c.stream);
}

/* The app accepted a WebSocket/SSE upgrade (env["rack.upgrade"] is its
 * handler; the body is ignored): Ruby registers the connection under the
 * request's handle before Go can report its first event. */
static int upgrade(request_t *r) {
  VALUE handler = iodine_rack_upgrade_of(r->env);
  if (NIL_P(handler))
    return 0;
  VALUE kind = ID2SYM(rb_intern(
      (r->task->flags & IODINE_REQ_WEBSOCKET) ? "websocket" : "sse"));
  rb_funcall(IodineBase, id_on_upgrade, 4, ULL2NUM(r->task->handle), handler,
             r->env, kind);
  iodine_go.upgrade(r->task->handle, headers_buf.p, headers_buf.len);
  r->answered = 1;
  return 1;
}

static VALUE send_response(VALUE arg) {
  request_t *r = (request_t *)arg;
  VALUE res = rb_check_array_type(r->response);
  if (NIL_P(res) || RARRAY_LEN(res) != 3)
    rb_raise(rb_eTypeError,
             "the app returned %+" PRIsVALUE ", not [status, headers, body]",
             r->response);
  r->body = RARRAY_AREF(res, 2);
  if (iodine_current->hijacked)
    return Qnil; /* the socket is Ruby's now */
  r->status = NUM2INT(rb_Integer(RARRAY_AREF(res, 0)));
  pack_headers(RARRAY_AREF(res, 1));
  /* iodine's examples accept an upgrade with status 0: any status < 300. */
  if ((r->task->flags & (IODINE_REQ_WEBSOCKET | IODINE_REQ_SSE)) &&
      r->status < 300 && upgrade(r))
    return Qnil;
  if (r->status < 100 || r->status > 999)
    rb_raise(rb_eArgError, "invalid HTTP status %d", r->status);
  VALUE body = r->body;
  if (RB_TYPE_P(body, T_ARRAY)) {
    respond_array(r, body);
  } else if (rb_respond_to(body, id_to_path)) {
    VALUE path = rb_funcall(body, id_to_path, 0);
    StringValue(path);
    respond(r, RSTRING_PTR(path), RSTRING_LEN(path), IODINE_RESP_FILE);
  } else if (rb_respond_to(body, id_to_ary)) {
    respond_array(r, rb_convert_type(body, T_ARRAY, "Array", "to_ary"));
  } else if (!rb_respond_to(body, id_each) && rb_respond_to(body, id_call)) {
    call_streaming_body(r, body);
  } else {
    body_buf.len = 0;
    rb_block_call(body, id_each, 0, NULL, stream_chunk, (VALUE)r);
    if (!r->answered)
      respond(r, body_buf.p, body_buf.len, 0);
  }
  if (r->streaming) {
    r->streaming = 0;
    iodine_go.stream_end(r->task->handle, 0);
  }
  return Qnil;
}

static VALUE log_exception(VALUE arg) {
  request_t *r = (request_t *)arg;
  return rb_funcall(IodineBase, id_log_exception, 2, rb_errinfo(),
                    NIL_P(r->env) ? Qnil : r->env);
}

static VALUE close_body(VALUE body) {
  return rb_funcall(body, id_close, 0);
}

static VALUE close_io(VALUE io) { return rb_io_close(io); }

/* Answers a request whose app failed: a 500 if nothing was sent yet, else
 * the stream is cut so the client sees an incomplete response. */
static void answer_failure(request_t *r) {
  if (iodine_current->hijacked)
    return;
  if (r->streaming) {
    r->streaming = 0;
    iodine_go.stream_end(r->task->handle, 1);
    return;
  }
  if (r->answered)
    return;
  static const char msg[] = "Internal Server Error";
  headers_buf.len = 0;
  put_header(rb_str_new_cstr("Content-Type"), rb_str_new_cstr("text/plain"));
  r->status = 500;
  respond(r, msg, sizeof(msg) - 1, 0);
}

/* Serves one HTTP task. Returns a pending non-exception jump state (for
 * the caller to re-raise after freeing the task), or 0. */
int iodine_rack_handle_task(iodine_task_t *t, VALUE app) {
  iodine_current_t current = {t, Qnil, 0};
  iodine_current_t *outer = iodine_current;
  iodine_current = &current;
  request_t r = {.task = t, .app = app, .env = Qnil, .response = Qnil,
                 .body = Qnil};
  int state = 0, ignored = 0;
  rb_protect(call_app, (VALUE)&r, &state);
  if (!state)
    rb_protect(send_response, (VALUE)&r, &state);
  if (state) {
    answer_failure(&r);
    if (state == IODINE_TAG_RAISE) {
      rb_protect(log_exception, (VALUE)&r, &ignored);
      rb_set_errinfo(Qnil);
    }
  }
  if (!NIL_P(r.body) && rb_respond_to(r.body, id_close)) {
    rb_protect(close_body, r.body, &ignored);
    if (ignored) {
      rb_protect(log_exception, (VALUE)&r, &ignored);
      rb_set_errinfo(Qnil);
    }
  }
  if (t->flags & IODINE_REQ_BODY_FILE) {
    if (t->body_fd >= 0) /* never became an IO */
      close(t->body_fd);
    else if (!NIL_P(r.env)) {
      VALUE io = iodine_rack_input_of(r.env);
      if (RB_TYPE_P(io, T_FILE))
        rb_protect(close_io, io, &ignored);
    }
  }
  RB_GC_GUARD(r.env);
  RB_GC_GUARD(r.response);
  RB_GC_GUARD(r.body);
  iodine_current = outer;
  return state == IODINE_TAG_RAISE ? 0 : state;
}

void iodine_init_rack_response(void) {
  id_call = rb_intern("call");
  id_each = rb_intern("each");
  id_to_path = rb_intern("to_path");
  id_to_ary = rb_intern("to_ary");
  id_close = rb_intern("close");
  id_log_exception = rb_intern("log_exception");
  id_on_upgrade = rb_intern("on_upgrade");
}
