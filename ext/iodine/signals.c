/*
 * signals.c: keeping Ruby's signal handlers safe on Go threads.
 *
 * Ruby installs handlers without SA_ONSTACK. A signal delivered to a Go
 * thread then runs on a goroutine stack and corrupts it (the prototype
 * crashed in 18 of 22 signal storms). Ruby owns the signals, so after Go
 * loads and after every `trap` we add SA_ONSTACK to each installed handler.
 */
#include "iodine_ext.h"

#include <signal.h>

/* Iodine::Base.fix_signals -> number of handlers changed. */
static VALUE fix_signals(VALUE self) {
  int changed = 0;
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0)
      continue;
    if (!(sa.sa_flags & SA_SIGINFO) &&
        (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
      continue;
    if (sa.sa_flags & SA_ONSTACK)
      continue;
    sa.sa_flags |= SA_ONSTACK;
    if (sigaction(sig, &sa, NULL) == 0)
      changed++;
  }
  return INT2NUM(changed);
}

/* Iodine::Base.signal_onstack?(signo) -> for tests. */
static VALUE signal_onstack_p(VALUE self, VALUE signo) {
  struct sigaction sa;
  if (sigaction(NUM2INT(signo), NULL, &sa) != 0)
    return Qnil;
  return (sa.sa_flags & SA_ONSTACK) ? Qtrue : Qfalse;
}

void iodine_init_signals(void) {
  rb_define_singleton_method(IodineBase, "fix_signals", fix_signals, 0);
  rb_define_singleton_method(IodineBase, "signal_onstack?", signal_onstack_p,
                             1);
}
