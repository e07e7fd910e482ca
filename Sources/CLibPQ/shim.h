#include <libpq-fe.h>
/* epoll and eventfd drive libpq's non-blocking sockets and the event loops' job queues
   (MailroomPostgres/LibPQ/PQEventLoop.swift); Glibc's module lacks them. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

/* Names the calling thread as the kernel (top -H, perf, /proc) shows it; at most 15 bytes are kept.
   prctl is variadic, which Swift cannot call. */
static inline int mailroom_name_this_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}
