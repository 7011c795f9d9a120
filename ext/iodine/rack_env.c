/*
 * rack_env.c: building the Rack env Hash from a request Go copied for us.
 *
 * Go already turned header names into CGI form (HTTP_X_FOO), merged
 * repeated headers and split Host; here we only make Ruby objects. Keys
 * are frozen, deduplicated strings, so the Hash never copies them.
 */
#include "iodine_ext.h"

#include <ruby/encoding.h>

__thread iodine_current_t *iodine_current;

static VALUE k_REQUEST_METHOD, k_SCRIPT_NAME, k_PATH_INFO, k_QUERY_STRING,
    k_SERVER_NAME, k_SERVER_PORT, k_SERVER_PROTOCOL, k_HTTP_VERSION,
    k_REMOTE_ADDR, k_REQUEST_URI, k_rack_version, k_rack_input, k_rack_errors,
    k_rack_multithread, k_rack_multiprocess, k_rack_run_once,
    k_rack_url_scheme, k_rack_hijack_p, k_rack_hijack, k_rack_hijack_io,
    k_rack_upgrade_p, k_rack_upgrade;
static VALUE v_rack_version, v_http, v_https, v_empty_body, v_hijack;
static VALUE script_name;  /* SCRIPT_NAME, "" by default */
static VALUE multiprocess; /* rack.multiprocess */
static VALUE methods[8];   /* frozen common REQUEST_METHOD values */
static VALUE protocols[3]; /* HTTP/1.1, HTTP/1.0, HTTP/0.9 */
static VALUE cStringIO;
/* The keys every env shares, copied in one step (as Puma's proto_env):
 * cheaper than inserting them one by one. Rebuilt when a setting or
 * $stderr changes. */
static VALUE proto_env, proto_stderr;
static ID id_for_fd;

static VALUE frozen(const char *s) {
  VALUE v = rb_obj_freeze(rb_str_new_cstr(s));
  rb_gc_register_mark_object(v);
  return v;
}

static VALUE key(const char *s) {
  VALUE v = rb_interned_str_cstr(s);
  rb_gc_register_mark_object(v);
  return v;
}

#define SPAN_PTR(t, s) ((char *)(t) + (s).off)

static VALUE span_str(iodine_task_t *t, iodine_span_t s) {
  return rb_str_new(SPAN_PTR(t, s), s.len);
}

/* A frozen shared value when the bytes match one, else a new string. */
static VALUE cached(VALUE *table, size_t n, iodine_task_t *t,
                    iodine_span_t s) {
  for (size_t i = 0; i < n && table[i]; i++)
    if ((size_t)RSTRING_LEN(table[i]) == s.len &&
        !memcmp(RSTRING_PTR(table[i]), SPAN_PTR(t, s), s.len))
      return table[i];
  return span_str(t, s);
}

static VALUE rack_input(iodine_task_t *t) {
  if (t->flags & IODINE_REQ_BODY_FILE) {
    VALUE io = rb_funcall(rb_cFile, id_for_fd, 2, INT2NUM(t->body_fd),
                          rb_str_new_cstr("rb"));
    t->body_fd = -1; /* the IO owns it now */
    return io;
  }
  VALUE body = t->body.len ? span_str(t, t->body) : v_empty_body;
  return rb_class_new_instance(1, &body, cStringIO);
}

static VALUE build_proto_env(void) {
  VALUE env = rb_hash_new();
  rb_hash_aset(env, k_SCRIPT_NAME, script_name);
  rb_hash_aset(env, k_rack_version, v_rack_version);
  rb_hash_aset(env, k_rack_errors, rb_stderr);
  rb_hash_aset(env, k_rack_multithread, Qtrue);
  rb_hash_aset(env, k_rack_multiprocess, multiprocess);
  rb_hash_aset(env, k_rack_run_once, Qfalse);
  rb_hash_aset(env, k_rack_url_scheme, v_http);
  rb_hash_aset(env, k_rack_hijack_p, Qtrue);
  rb_hash_aset(env, k_rack_hijack, v_hijack);
  proto_stderr = rb_stderr;
  return rb_obj_freeze(env);
}

VALUE iodine_rack_env(iodine_task_t *t) {
  if (NIL_P(proto_env) || proto_stderr != rb_stderr)
    proto_env = build_proto_env();
  VALUE env = rb_hash_dup(proto_env);
  rb_hash_aset(env, k_REQUEST_METHOD,
               cached(methods, sizeof(methods) / sizeof(*methods), t,
                      t->method));
  iodine_span_t path = t->path;
  long sn = RSTRING_LEN(script_name);
  if (sn && path.len >= (uint32_t)sn &&
      !memcmp(SPAN_PTR(t, path), RSTRING_PTR(script_name), sn)) {
    path.off += sn;
    path.len -= sn;
  }
  rb_hash_aset(env, k_PATH_INFO, span_str(t, path));
  rb_hash_aset(env, k_QUERY_STRING, span_str(t, t->query));
  rb_hash_aset(env, k_SERVER_NAME, span_str(t, t->server_name));
  rb_hash_aset(env, k_SERVER_PORT, span_str(t, t->server_port));
  VALUE proto = cached(protocols, 3, t, t->version);
  rb_hash_aset(env, k_SERVER_PROTOCOL, proto);
  rb_hash_aset(env, k_HTTP_VERSION, proto);
  rb_hash_aset(env, k_REMOTE_ADDR, span_str(t, t->remote_addr));
  rb_hash_aset(env, k_REQUEST_URI, span_str(t, t->request_uri));
  if (t->flags & IODINE_REQ_TLS)
    rb_hash_aset(env, k_rack_url_scheme, v_https);

  iodine_span_t *h = (iodine_span_t *)((char *)t + t->headers_off);
  for (uint32_t i = 0; i < t->header_count; i++, h += 2) {
    VALUE name = rb_interned_str(SPAN_PTR(t, h[0]), h[0].len);
    rb_hash_aset(env, name, span_str(t, h[1]));
  }
  if (t->flags & IODINE_REQ_WEBSOCKET)
    rb_hash_aset(env, k_rack_upgrade_p, ID2SYM(rb_intern("websocket")));
  else if (t->flags & IODINE_REQ_SSE)
    rb_hash_aset(env, k_rack_upgrade_p, ID2SYM(rb_intern("sse")));
  rb_hash_aset(env, k_rack_input, rack_input(t));
  return env;
}

/* env["rack.upgrade"]: the handler an app set to accept an upgrade. */
VALUE iodine_rack_upgrade_of(VALUE env) {
  return rb_hash_lookup2(env, k_rack_upgrade, Qnil);
}

/* env["rack.input"], to close a spilled body's file after the request. */
VALUE iodine_rack_input_of(VALUE env) { return rb_hash_aref(env, k_rack_input); }

/* rack.hijack: hand this request's socket to Ruby (GVL released while Go
 * detaches it). The same IO is returned if called twice. */
typedef struct {
  uint64_t handle;
  int fd;
} hijack_args_t;

static void *hijack_nogvl(void *p) {
  hijack_args_t *a = p;
  a->fd = iodine_go.hijack(a->handle);
  return NULL;
}

static VALUE hijack_call(VALUE self) {
  iodine_current_t *c = iodine_current;
  if (!c || !c->task)
    rb_raise(IodineError, "rack.hijack called outside of its request's thread");
  if (c->hijacked)
    return rb_hash_aref(c->env, k_rack_hijack_io);
  iodine_go_require();
  hijack_args_t a = {c->task->handle, -1};
  rb_thread_call_without_gvl(hijack_nogvl, &a, NULL, NULL);
  if (a.fd < 0)
    rb_raise(IodineError, "this connection can't be hijacked");
  c->hijacked = 1;
  VALUE io = rb_funcall(rb_path2class("Socket"), id_for_fd, 1, INT2NUM(a.fd));
  rb_funcall(io, rb_intern("binmode"), 0);
  rb_funcall(io, rb_intern("sync="), 1, Qtrue);
  rb_hash_aset(c->env, k_rack_hijack_io, io);
  return io;
}

/* Iodine::Base.script_name = "/prefix" (from $SCRIPT_NAME). */
static VALUE set_script_name(VALUE self, VALUE v) {
  script_name = rb_obj_freeze(rb_str_dup(StringValue(v)));
  proto_env = Qnil;
  return v;
}

/* Iodine::Base.multiprocess = true in a cluster's workers. */
static VALUE set_multiprocess(VALUE self, VALUE v) {
  multiprocess = RTEST(v) ? Qtrue : Qfalse;
  proto_env = Qnil;
  return v;
}

void iodine_init_rack_env(void) {
  cStringIO = rb_path2class("StringIO");
  proto_env = Qnil;
  rb_gc_register_address(&proto_env);
  id_for_fd = rb_intern("for_fd");
  k_REQUEST_METHOD = key("REQUEST_METHOD");
  k_SCRIPT_NAME = key("SCRIPT_NAME");
  k_PATH_INFO = key("PATH_INFO");
  k_QUERY_STRING = key("QUERY_STRING");
  k_SERVER_NAME = key("SERVER_NAME");
  k_SERVER_PORT = key("SERVER_PORT");
  k_SERVER_PROTOCOL = key("SERVER_PROTOCOL");
  k_HTTP_VERSION = key("HTTP_VERSION");
  k_REMOTE_ADDR = key("REMOTE_ADDR");
  k_REQUEST_URI = key("REQUEST_URI");
  k_rack_version = key("rack.version");
  k_rack_input = key("rack.input");
  k_rack_errors = key("rack.errors");
  k_rack_multithread = key("rack.multithread");
  k_rack_multiprocess = key("rack.multiprocess");
  k_rack_run_once = key("rack.run_once");
  k_rack_url_scheme = key("rack.url_scheme");
  k_rack_hijack_p = key("rack.hijack?");
  k_rack_upgrade_p = key("rack.upgrade?");
  k_rack_upgrade = key("rack.upgrade");
  k_rack_hijack = key("rack.hijack");
  k_rack_hijack_io = key("rack.hijack_io");
  v_rack_version = rb_ary_new_from_args(2, INT2FIX(1), INT2FIX(3));
  rb_obj_freeze(v_rack_version);
  rb_gc_register_mark_object(v_rack_version);
  v_http = frozen("http");
  v_https = frozen("https");
  v_empty_body = rb_obj_freeze(rb_str_new(NULL, 0)); /* binary */
  rb_gc_register_mark_object(v_empty_body);
  script_name = frozen("");
  rb_gc_register_address(&script_name);
  multiprocess = Qfalse;
  const char *m[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"};
  for (size_t i = 0; i < sizeof(m) / sizeof(*m); i++)
    methods[i] = frozen(m[i]);
  protocols[0] = frozen("HTTP/1.1");
  protocols[1] = frozen("HTTP/1.0");
  protocols[2] = frozen("HTTP/0.9");

  v_hijack = rb_obj_alloc(rb_cObject);
  rb_define_singleton_method(v_hijack, "call", hijack_call, 0);
  rb_define_const(IodineBase, "HIJACK", v_hijack);
  rb_define_singleton_method(IodineBase, "script_name=", set_script_name, 1);
  rb_define_singleton_method(IodineBase, "multiprocess=", set_multiprocess, 1);
}
