// A trivial HTTP/1.1 server, to measure the load generator's own ceiling: one epoll thread, every
// request (headers, then Content-Length bytes of body; pipelined ones too) answered at once with
// the same small JSON response, keep-alive. It does no work, so what limits a load test against
// it is the generator (and the kernel's loopback).
//
//   seawall_http_responder [port=0]
//
// Prints "listening on PORT" once ready, and serves until killed or until its stdin closes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

namespace {

const std::string kBody = "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"y\",\"data\":[0.5]}]}\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
    std::to_string(kBody.size()) + "\r\n\r\n" + kBody;

struct Conn {
  std::string in;
  std::string out;
  bool waiting = false;  // EPOLLOUT registered
};

// The bytes of whole requests at the front of `in` (0 while the first is incomplete).
std::size_t whole_request(const std::string& in) {
  const std::size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  std::size_t length = 0;
  for (const char* name : {"Content-Length:", "content-length:"}) {
    const std::size_t at = in.find(name);
    if (at != std::string::npos && at < end) {
      length = std::strtoul(in.c_str() + at + 15, nullptr, 10);
    }
  }
  return in.size() >= end + 4 + length ? end + 4 + length : 0;
}

// Sends what it can; the rest waits for EPOLLOUT.
void flush(int ep, int fd, Conn& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // full (EAGAIN) or failed: the next event retries or closes
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  const bool waiting = !c.out.empty();
  if (waiting != c.waiting) {
    epoll_event ev{};
    ev.events = EPOLLIN | (waiting ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    c.waiting = waiting;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 0;
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1024) != 0) {
    std::perror("listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("listening on %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  ev.data.fd = STDIN_FILENO;  // stdin closing (the parent gone) ends the server
  ::epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
  std::unordered_map<int, Conn> conns;
  epoll_event events[256];
  char buf[65536];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno != EINTR) return 1;
    for (int k = 0; k < n; ++k) {
      const int fd = events[k].data.fd;
      if (fd == STDIN_FILENO) {
        if (::read(STDIN_FILENO, buf, sizeof buf) <= 0) return 0;
        continue;
      }
      if (fd == listener) {
        int c;
        while ((c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          ev.events = EPOLLIN;
          ev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
          conns[c];
        }
        continue;
      }
      Conn& c = conns[fd];
      if (events[k].events & EPOLLOUT) flush(ep, fd, c);
      if (!(events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        ::close(fd);
        conns.erase(fd);
        continue;
      }
      c.in.append(buf, static_cast<std::size_t>(got));
      std::size_t whole;
      while ((whole = whole_request(c.in)) > 0) {
        c.in.erase(0, whole);
        c.out += kResponse;
      }
      flush(ep, fd, c);
    }
  }
}
