/*
 * bridge_queue.c: the task queue between Go and the Ruby threads.
 *
 * Go pushes (one cgo call per request); Ruby threads wait here in plain C
 * with the GVL released, each on its own condition variable. Idle waiters
 * form a LIFO stack, so the most recently idle thread (hot cache, already
 * scheduled) is woken first. A woken thread drains the queue while holding
 * the GVL (iodine_queue_try_pop), which measured fastest.
 */
#include "iodine.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct iodine_waiter {
  pthread_cond_t cond;
  struct iodine_waiter *next; /* idle stack link */
  int idle;                   /* on the idle stack */
  int interrupted;            /* woken by the unblocking function */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static iodine_task_t *head, *tail;
static iodine_waiter_t *idle_top;
static int closed;

static void idle_remove(iodine_waiter_t *w) {
  iodine_waiter_t **p = &idle_top;
  while (*p && *p != w)
    p = &(*p)->next;
  if (*p)
    *p = w->next;
  w->idle = 0;
}

void iodine_queue_push(const void *block, size_t len) {
  iodine_task_t *t = malloc(len);
  if (!t)
    abort(); /* out of memory: nothing sane to do on the hot path */
  memcpy(t, block, len);
  t->next = NULL;
  pthread_mutex_lock(&lock);
  if (tail)
    tail->next = t;
  else
    head = t;
  tail = t;
  iodine_waiter_t *w = idle_top;
  if (w) {
    idle_top = w->next;
    w->idle = 0;
    pthread_cond_signal(&w->cond);
  }
  pthread_mutex_unlock(&lock);
}

static iodine_task_t *pop_locked(void) {
  iodine_task_t *t = head;
  if (t) {
    head = t->next;
    if (!head)
      tail = NULL;
    t->next = NULL;
  }
  return t;
}

iodine_task_t *iodine_queue_wait(iodine_waiter_t *w) {
  iodine_task_t *t = NULL;
  pthread_mutex_lock(&lock);
  while (!(t = pop_locked()) && !closed && !w->interrupted) {
    if (!w->idle) {
      w->next = idle_top;
      idle_top = w;
      w->idle = 1;
    }
    pthread_cond_wait(&w->cond, &lock);
  }
  if (w->idle)
    idle_remove(w);
  w->interrupted = 0;
  /* A woken waiter that found nothing passes no signal along: push signals
   * exactly one idle waiter per task, and takers always drain. */
  pthread_mutex_unlock(&lock);
  return t;
}

iodine_task_t *iodine_queue_try_pop(void) {
  /* Racy peek first: avoids the lock when the queue is empty (common). */
  if (!__atomic_load_n(&head, __ATOMIC_ACQUIRE))
    return NULL;
  pthread_mutex_lock(&lock);
  iodine_task_t *t = pop_locked();
  pthread_mutex_unlock(&lock);
  return t;
}

void iodine_queue_interrupt(iodine_waiter_t *w) {
  pthread_mutex_lock(&lock);
  w->interrupted = 1;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&lock);
}

void iodine_queue_close(void) {
  pthread_mutex_lock(&lock);
  closed = 1;
  for (iodine_waiter_t *w = idle_top; w; w = w->next) {
    w->idle = 0;
    pthread_cond_signal(&w->cond);
  }
  idle_top = NULL;
  pthread_mutex_unlock(&lock);
}

int iodine_queue_is_closed(void) {
  pthread_mutex_lock(&lock);
  int c = closed;
  pthread_mutex_unlock(&lock);
  return c;
}

iodine_waiter_t *iodine_waiter_new(void) {
  iodine_waiter_t *w = calloc(1, sizeof(*w));
  if (w)
    pthread_cond_init(&w->cond, NULL);
  return w;
}

void iodine_waiter_free(iodine_waiter_t *w) {
  if (!w)
    return;
  pthread_mutex_lock(&lock);
  if (w->idle)
    idle_remove(w);
  pthread_mutex_unlock(&lock);
  pthread_cond_destroy(&w->cond);
  free(w);
}
