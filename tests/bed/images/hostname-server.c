/*
 * The HTTP server of the bed's nettool image: answers every request on TCP port 80 (or argv[1])
 * with "200 OK" and a body that is the container's host name and a newline, so a client can tell
 * which pod answered. One child process per connection; SIGTERM/SIGINT end it. Built with
 * `gcc -static` by build.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int signo) {
  (void)signo;
  _exit(0);
}

static void serve(int fd) {
  char req[4096], host[256], resp[512];
  size_t have = 0;
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  /* Read until the end of the request head (or the buffer is full); the request body is ignored. */
  while (have < sizeof req - 1) {
    ssize_t n = read(fd, req + have, sizeof req - 1 - have);
    if (n <= 0) break;
    have += (size_t)n;
    req[have] = '\0';
    if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
  }
  if (gethostname(host, sizeof host) != 0) strcpy(host, "unknown");
  host[sizeof host - 1] = '\0';
  int body = (int)strlen(host) + 1;
  int len = snprintf(resp, sizeof resp,
                     "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     body, host);
  for (int off = 0; off < len;) {
    ssize_t n = write(fd, resp + off, (size_t)(len - off));
    if (n <= 0) break;
    off += (int)n;
  }
  close(fd);
}

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 80;
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  struct sigaction reap = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT};
  sigaction(SIGCHLD, &reap, NULL);
  int s = socket(AF_INET6, SOCK_STREAM, 0);
  int v6only = 0, one = 1;
  if (s >= 0) {
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 a6 = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
    if (bind(s, (struct sockaddr*)&a6, sizeof a6) != 0) {
      close(s);
      s = -1;
    }
  }
  if (s < 0) { /* no IPv6 in the pod: IPv4 only */
    s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a4 = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(s, (struct sockaddr*)&a4, sizeof a4) != 0) {
      perror("bind");
      return 1;
    }
  }
  if (listen(s, 128) != 0) {
    perror("listen");
    return 1;
  }
  fprintf(stderr, "hostname-server listening on port %d\n", port);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      perror("accept");
      return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(s);
      serve(c);
      _exit(0);
    }
    if (pid < 0)
      serve(c); /* cannot fork: answer inline */
    else
      close(c);
  }
}
