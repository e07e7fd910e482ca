#include <libpq-fe.h>
/* epoll drives libpq's non-blocking sockets (MailroomPostgres/LibPQ/PQEventLoop.swift); Glibc's module lacks it. */
#include <sys/epoll.h>
