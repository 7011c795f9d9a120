/*
 * rack_stream.c: Rack 3 streaming bodies. A body that responds to `call`
 * (and not `each`) is called with an Iodine::Base::Stream, which writes to
 * the client until it is closed, from any thread. The headers go out with
 * the first write; HTTP/1.0 clients (no chunked encoding) get everything
 * at close. A stream dropped without close cuts the response when it is
 * garbage collected, so a forgotten stream never holds a connection.
 */
#include "iodine_ext.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  uint64_t handle;
  int status;
  int http10;
  int started; /* the headers went out (iodine_respond with STREAM) */
  int closed;
  pid_t pid;   /* the process whose Go core owns the handle */
  char *headers;
  size_t headers_len;
  iodine_buf_t buffer; /* HTTP/1.0: the whole body until close */
} stream_t;

static VALUE cStream;

static void stream_finish(stream_t *s, int aborted) {
  if (s->closed)
    return;
  s->closed = 1;
  if (s->pid != getpid())
    return;
  if (s->started)
    iodine_go.stream_end(s->handle, aborted);
  else if (aborted && !s->http10)
    iodine_go.stream_end(s->handle, 1); /* nothing was answered: nothing to cut */
  else
    iodine_go.respond(s->handle, s->status, s->headers, s->headers_len, s->buffer.p,
               s->buffer.len, 0);
}

static void stream_free(void *p) {
  stream_t *s = p;
  stream_finish(s, 1);
  free(s->headers);
  free(s->buffer.p);
  free(s);
}

static size_t stream_size(const void *p) { return sizeof(stream_t); }

static const rb_data_type_t stream_type = {
    "Iodine::Base::Stream",
    {NULL, stream_free, stream_size},
    NULL,
    NULL,
    RUBY_TYPED_FREE_IMMEDIATELY,
};

/* Makes the stream for a request whose status and packed headers are
 * given; the request is answered through it from now on. */
VALUE iodine_stream_new(iodine_task_t *t, int status, const char *headers,
                        size_t headers_len) {
  stream_t *s;
  VALUE obj = TypedData_Make_Struct(cStream, stream_t, &stream_type, s);
  s->handle = t->handle;
  s->status = status;
  s->http10 = (t->flags & IODINE_REQ_HTTP10) != 0;
  s->pid = getpid();
  s->headers = malloc(headers_len ? headers_len : 1);
  if (!s->headers)
    rb_memerror();
  memcpy(s->headers, headers, headers_len);
  s->headers_len = headers_len;
  return obj;
}

typedef struct {
  uint64_t handle;
  char *data;
  size_t len;
  int ok;
} write_args_t;

static void *write_nogvl(void *p) {
  write_args_t *a = p;
  a->ok = iodine_go.stream_write(a->handle, a->data, a->len);
  return NULL;
}

/* Sends one chunk of a streamed response (copied here, GVL held): the
 * first goes out with the status and headers (*started is then set), the
 * others wait for the client without the GVL. Returns 0 once the client is
 * gone. Shared by `each` bodies and Rack 3 streams. */
int iodine_stream_chunk(uint64_t handle, int *started, int status,
                        const char *headers, size_t headers_len,
                        const char *data, size_t len) {
  char *copy = malloc(len); /* Go takes it and frees it */
  if (!copy)
    rb_memerror();
  memcpy(copy, data, len);
  if (!*started) {
    *started = 1;
    iodine_go.respond(handle, status, (char *)headers, headers_len, copy, len,
               IODINE_RESP_STREAM);
    return 1;
  }
  write_args_t a = {handle, copy, len, 0};
  rb_thread_call_without_gvl(write_nogvl, &a, NULL, NULL);
  return a.ok;
}

static void write_one(stream_t *s, VALUE str) {
  StringValue(str);
  size_t len = RSTRING_LEN(str);
  if (!len)
    return;
  if (s->http10) {
    iodine_buf_put(&s->buffer, RSTRING_PTR(str), len);
    return;
  }
  if (!iodine_stream_chunk(s->handle, &s->started, s->status, s->headers,
                           s->headers_len, RSTRING_PTR(str), len)) {
    s->closed = 1;
    rb_raise(rb_eIOError, "the client closed the connection");
  }
}

static stream_t *open_stream(VALUE self) {
  stream_t *s;
  TypedData_Get_Struct(self, stream_t, &stream_type, s);
  if (s->closed)
    rb_raise(rb_eIOError, "closed stream");
  if (s->pid != getpid())
    rb_raise(IodineError, "this stream belongs to process %d", (int)s->pid);
  return s;
}

/* stream.write(*strings) -> bytes written */
static VALUE stream_write(int argc, VALUE *argv, VALUE self) {
  stream_t *s = open_stream(self);
  long total = 0;
  for (int i = 0; i < argc; i++) {
    VALUE str = rb_obj_as_string(argv[i]);
    write_one(s, str);
    total += RSTRING_LEN(str);
  }
  return LONG2NUM(total);
}

static VALUE stream_append(VALUE self, VALUE str) {
  write_one(open_stream(self), rb_obj_as_string(str));
  return self;
}

static VALUE stream_close(VALUE self) {
  stream_t *s;
  TypedData_Get_Struct(self, stream_t, &stream_type, s);
  if (s->pid == getpid())
    stream_finish(s, 0);
  return Qnil;
}

/* Cuts the response short (the app raised in body.call). */
void iodine_stream_abort(VALUE self) {
  stream_t *s;
  TypedData_Get_Struct(self, stream_t, &stream_type, s);
  if (s->pid == getpid())
    stream_finish(s, 1);
}

static VALUE stream_closed_p(VALUE self) {
  stream_t *s;
  TypedData_Get_Struct(self, stream_t, &stream_type, s);
  return s->closed ? Qtrue : Qfalse;
}

static VALUE stream_self(VALUE self) { return self; }
static VALUE stream_nil(int argc, VALUE *argv, VALUE self) { return Qnil; }

void iodine_init_rack_stream(void) {
  cStream = rb_define_class_under(IodineBase, "Stream", rb_cObject);
  rb_undef_alloc_func(cStream);
  rb_define_method(cStream, "write", stream_write, -1);
  rb_define_method(cStream, "<<", stream_append, 1);
  rb_define_method(cStream, "flush", stream_self, 0);
  rb_define_method(cStream, "close", stream_close, 0);
  rb_define_method(cStream, "close_write", stream_close, 0);
  rb_define_method(cStream, "closed?", stream_closed_p, 0);
  rb_define_method(cStream, "read", stream_nil, -1);
  rb_define_method(cStream, "read_partial", stream_nil, -1);
  rb_define_method(cStream, "close_read", stream_nil, -1);
}
