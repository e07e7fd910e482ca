#include <libpq-fe.h>
/* epoll and eventfd drive libpq's non-blocking sockets and the event thread's job queue
   (MailroomPostgres/LibPQ/PQEventLoop.swift); Glibc's module lacks them. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
