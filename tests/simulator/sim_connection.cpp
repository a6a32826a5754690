#include "sim_connection.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace plivo_sim {

namespace {

// The connection the current thread is serving (see SimHttpServer): the fault code
// resets or closes it, which httplib's handler interface cannot do.
thread_local int t_connection = -1;

// Waits until `fd` has `events` (POLLIN / POLLOUT); false on timeout or error.
bool wait_for(int fd, short events, std::int64_t timeout_ms) {
    pollfd p{fd, events, 0};
    for (;;) {
        const int rc = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(timeout_ms, 1 << 30)));
        if (rc < 0 && errno == EINTR) continue;
        return rc > 0;
    }
}

// IP and port of one end of a socket, numeric (the way httplib writes remote_addr).
void socket_end(int fd, bool peer, std::string& ip, int& port) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                        : getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (rc != 0 || getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv,
                               sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        ip.clear();
        port = -1;
        return;
    }
    ip = host;
    port = std::atoi(serv);
}

// A buffered stream over one accepted socket (httplib reads request lines byte by
// byte, so reads go through a 4 KB buffer, as httplib's own SocketStream does).
class ConnectionStream final : public httplib::Stream {
public:
    ConnectionStream(int fd, std::int64_t read_timeout_ms, std::int64_t write_timeout_ms)
        : fd_(fd), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

    bool has_buffered() const { return offset_ < size_; }
    bool is_readable() const override {
        return has_buffered() || wait_for(fd_, POLLIN, read_timeout_ms_);
    }
    bool is_writable() const override { return wait_for(fd_, POLLOUT, write_timeout_ms_); }

    ssize_t read(char* ptr, size_t size) override {
        if (has_buffered()) {
            const size_t n = std::min(size, size_ - offset_);
            std::memcpy(ptr, buffer_ + offset_, n);
            offset_ += n;
            return static_cast<ssize_t>(n);
        }
        if (!wait_for(fd_, POLLIN, read_timeout_ms_)) return -1;
        if (size >= sizeof buffer_) return recv_some(ptr, size);
        const ssize_t n = recv_some(buffer_, sizeof buffer_);
        if (n <= 0) return n;
        size_ = static_cast<size_t>(n);
        offset_ = std::min(size, size_);
        std::memcpy(ptr, buffer_, offset_);
        return static_cast<ssize_t>(offset_);
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (!is_writable()) return -1;
        for (;;) {
            const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            return n;
        }
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        socket_end(fd_, true, ip, port);
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        socket_end(fd_, false, ip, port);
    }
    socket_t socket() const override { return fd_; }

private:
    ssize_t recv_some(char* ptr, size_t size) {
        for (;;) {
            const ssize_t n = ::recv(fd_, ptr, size, 0);
            if (n < 0 && errno == EINTR) continue;
            return n;
        }
    }

    const int fd_;
    const std::int64_t read_timeout_ms_;
    const std::int64_t write_timeout_ms_;
    char buffer_[4096];
    size_t offset_ = 0;
    size_t size_ = 0;
};

}  // namespace

void SimHttpServer::raise_backlog(int backlog) {
    const socket_t sock = svr_sock_.load();
    if (sock != INVALID_SOCKET) ::listen(sock, backlog);
}

void SimHttpServer::shutdown_connections() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
}

bool SimHttpServer::process_and_close_socket(socket_t sock) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        open_.insert(sock);
    }
    t_connection = sock;
    ConnectionStream stream(sock, read_timeout_sec_ * 1000 + read_timeout_usec_ / 1000,
                            write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000);
    bool ok = true;
    for (std::size_t left = keep_alive_max_count_; left > 0 && svr_sock_.load() != INVALID_SOCKET;
         --left) {
        if (!stream.has_buffered() && !wait_for(sock, POLLIN, keep_alive_timeout_sec_ * 1000)) {
            break;
        }
        bool connection_closed = false;
        ok = process_request(stream, left == 1, connection_closed, nullptr);
        if (!ok || connection_closed) break;
    }
    t_connection = -1;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        open_.erase(sock);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
}

void reset_current_connection() {
    const int fd = t_connection;
    if (fd < 0) return;
    linger hard{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    // connect(AF_UNSPEC) disconnects a TCP socket: Linux sends the RST at once, and the
    // descriptor stays valid for the connection loop, whose answer then fails to go out
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    ::connect(fd, &unspec, sizeof unspec);
}

void hold_then_close_current_connection(std::int64_t timeout_ms, const Stopper& stopper) {
    const int fd = t_connection;
    if (fd < 0) return;
    pollfd hangup{fd, POLLRDHUP, 0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || stopper.stopped()) break;
        // stop() shuts the socket down, which ends this poll too
        const int rc =
            ::poll(&hangup, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30)));
        if (rc > 0 || (rc < 0 && errno != EINTR)) break;
    }
    ::shutdown(fd, SHUT_RDWR);  // end-of-file for the client, no answer
}

}  // namespace plivo_sim
