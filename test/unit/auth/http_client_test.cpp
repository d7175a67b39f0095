// HttpClient over real sockets against a small HTTP(S) server in this process on 127.0.0.1:0: round trips and
// keep-alive reuse, the per-request timeout, connection refused, https with a certificate made here, the queue
// bound, and the destructor with requests in flight (also when it runs on the client's own thread).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "auth/http_client.hpp"

namespace moth::auth {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Every answer a client gave, in order; waits with a deadline (never a sleep).
class Answers {
public:
    std::function<void(HttpResponse)> callback() {
        return [this](HttpResponse r) {
            const std::lock_guard lock(mutex_);
            got_.push_back(std::move(r));
            changed_.notify_all();
        };
    }
    // The first `n` answers, or a test failure when they do not come within `limit`.
    std::vector<HttpResponse> wait(std::size_t n, std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, limit, [&] { return got_.size() >= n; }))
            ADD_FAILURE() << "got " << got_.size() << " answers of " << n;
        return got_;
    }
    std::size_t count() {
        const std::lock_guard lock(mutex_);
        return got_.size();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<HttpResponse> got_;
};

// A self-signed certificate (EC P-256) for `san` ("IP:127.0.0.1", "DNS:wrong.example") in `dir`.
struct Pem {
    std::string cert_file;
    std::string key_file;
};

Pem make_certificate(const fs::path& dir, const std::string& san) {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("moth test"), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    for (const auto& [nid, value] :
         {std::pair{NID_subject_alt_name, san.c_str()}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(cert, key, EVP_sha256());
    const std::string stem = (dir / san.substr(san.find(':') + 1)).string();
    Pem pem{stem + ".crt", stem + ".key"};
    FILE* f = std::fopen(pem.cert_file.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(pem.key_file.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
    return pem;
}

// The hook's stand-in: answers each POST with 200 and the request's body (Answer), never answers (Silent), or
// answers and then closes without saying so (CloseAfterAnswer: a kept-alive connection the server dropped).
class TestServer {
public:
    enum class Mode { Answer, Silent, CloseAfterAnswer };

    explicit TestServer(Mode mode, const Pem* pem = nullptr) : mode_(mode) {
        if (pem != nullptr) {
            tls_.emplace(ssl::context::tls_server);
            tls_->use_certificate_chain_file(pem->cert_file);
            tls_->use_private_key_file(pem->key_file, ssl::context::pem);
        }
        acceptor_.open(tcp::v4());
        acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        acceptor_.listen();
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TestServer() {
        io_.stop();
        thread_.join();
    }
    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    [[nodiscard]] HttpUrl url(bool tls = false) const { return HttpUrl{tls, "127.0.0.1", port(), "/auth"}; }

    std::atomic<int> connections{0};
    std::atomic<int> requests{0};

private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(kAsTuple);
            if (ec) co_return;
            ++connections;
            if (tls_) {
                asio::co_spawn(io_, tls_session(std::move(socket)), asio::detached);
            } else {
                asio::co_spawn(io_, session(std::move(socket)), asio::detached);
            }
        }
    }
    asio::awaitable<void> tls_session(tcp::socket socket) {
        ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
        auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kAsTuple);
        if (!ec) co_await serve(stream);
    }
    asio::awaitable<void> session(tcp::socket socket) { co_await serve(socket); }

    template <class Stream>
    asio::awaitable<void> serve(Stream& stream) {
        boost::beast::flat_buffer buffer;
        for (;;) {
            http::request<http::string_body> request;
            auto [ec, n] = co_await http::async_read(stream, buffer, request, kAsTuple);
            if (ec) co_return;
            ++requests;
            if (mode_ == Mode::Silent) continue;  // reads on, answers nothing
            http::response<http::string_body> response{http::status::ok, 11};
            response.set(http::field::content_type, "application/json");
            response.body() = request.body();
            response.keep_alive(true);
            response.prepare_payload();
            auto [wec, written] = co_await http::async_write(stream, response, kAsTuple);
            if (wec || mode_ == Mode::CloseAfterAnswer) co_return;
        }
    }

    Mode mode_;
    std::optional<ssl::context> tls_;
    asio::io_context io_;
    tcp::acceptor acceptor_{io_};
    std::thread thread_;
};

class HttpClientTest : public ::testing::Test {
protected:
    HttpClientTest() {
        static std::atomic<int> counter{0};
        dir_ = fs::temp_directory_path() /
               ("moth_http_client_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(dir_);
    }
    ~HttpClientTest() override {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    static HttpClient::Options options(std::chrono::milliseconds timeout = 5s, std::size_t connections = 8) {
        HttpClient::Options o;
        o.timeout = timeout;
        o.max_connections = connections;
        return o;
    }

    fs::path dir_;
};

TEST_F(HttpClientTest, PostRoundTripReusesOneConnection) {
    TestServer server(TestServer::Mode::Answer);
    Answers answers;
    HttpClient client(options());
    for (std::size_t i = 0; i < 3; ++i) {
        client.post(server.url(), R"({"n":)" + std::to_string(i) + "}", answers.callback());
        const auto got = answers.wait(i + 1);
        ASSERT_EQ(got.size(), i + 1);
        EXPECT_EQ(got[i].error, "");
        EXPECT_EQ(got[i].status, 200);
        EXPECT_EQ(got[i].body, R"({"n":)" + std::to_string(i) + "}");
    }
    EXPECT_EQ(server.connections, 1);  // kept alive
}

TEST_F(HttpClientTest, ConcurrentRequestsStayWithinMaxConnections) {
    TestServer server(TestServer::Mode::Answer);
    Answers answers;
    HttpClient client(options(5s, 2));
    for (int i = 0; i < 50; ++i) client.post(server.url(), "{}", answers.callback());
    const auto got = answers.wait(50);
    ASSERT_EQ(got.size(), 50u);
    for (const auto& r : got) EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_LE(server.connections, 2);
    EXPECT_EQ(server.requests, 50);
}

TEST_F(HttpClientTest, KeptAliveConnectionClosedByTheServerIsRetriedOnAFreshOne) {
    TestServer server(TestServer::Mode::CloseAfterAnswer);
    Answers answers;
    HttpClient client(options(5s, 1));
    client.post(server.url(), "1", answers.callback());
    ASSERT_EQ(answers.wait(1).size(), 1u);
    client.post(server.url(), "2", answers.callback());
    const auto got = answers.wait(2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].status, 200) << got[1].error;
    EXPECT_EQ(got[1].body, "2");
    EXPECT_EQ(server.connections, 2);
}

TEST_F(HttpClientTest, ServerThatNeverAnswersTimesOut) {
    TestServer server(TestServer::Mode::Silent);
    Answers answers;
    HttpClient client(options(300ms));
    const auto start = std::chrono::steady_clock::now();
    client.post(server.url(), "{}", answers.callback());
    const auto got = answers.wait(1, 300ms + 3s);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].error, "timeout");
    EXPECT_GE(elapsed, 300ms);
    EXPECT_EQ(server.requests, 1);  // it was sent: the deadline covers the read
}

TEST_F(HttpClientTest, ConnectionRefused) {
    std::uint16_t port = 0;
    {
        asio::io_context io;
        tcp::acceptor closed(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        port = closed.local_endpoint().port();
    }
    Answers answers;
    HttpClient client(options());
    client.post(HttpUrl{false, "127.0.0.1", port, "/"}, "{}", answers.callback());
    const auto got = answers.wait(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].error, "connection refused");
}

TEST_F(HttpClientTest, HttpsVerifiesAgainstTheCaFile) {
    const Pem pem = make_certificate(dir_, "IP:127.0.0.1");
    TestServer server(TestServer::Mode::Answer, &pem);
    Answers answers;
    auto trusting = options();
    trusting.ca_file = pem.cert_file;
    {
        HttpClient client(trusting);
        client.post(server.url(true), "{\"tls\":true}", answers.callback());
        const auto got = answers.wait(1);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].error, "");
        EXPECT_EQ(got[0].body, "{\"tls\":true}");
    }
    {
        HttpClient client(options());  // the system's CAs do not know this certificate
        client.post(server.url(true), "{}", answers.callback());
        const auto got = answers.wait(2);
        ASSERT_EQ(got.size(), 2u);
        EXPECT_EQ(got[1].status, 0);
        EXPECT_NE(got[1].error.find("certificate verify failed"), std::string::npos) << got[1].error;
    }
}

TEST_F(HttpClientTest, HttpsChecksTheHostName) {
    const Pem pem = make_certificate(dir_, "DNS:wrong.example");
    TestServer server(TestServer::Mode::Answer, &pem);
    Answers answers;
    auto trusting = options();
    trusting.ca_file = pem.cert_file;
    HttpClient client(trusting);
    client.post(server.url(true), "{}", answers.callback());
    const auto got = answers.wait(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NE(got[0].error.find("mismatch"), std::string::npos) << got[0].error;
    EXPECT_EQ(server.requests, 0);
}

TEST_F(HttpClientTest, UnreadableTlsFilesThrowNamingTheFile) {
    auto bad = options();
    bad.ca_file = (dir_ / "missing.pem").string();
    try {
        HttpClient client(bad);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(bad.ca_file + ": ", 0), 0u) << e.what();
    }
    auto key_only = options();
    key_only.key_file = (dir_ / "k.pem").string();
    EXPECT_THROW(HttpClient{key_only}, std::runtime_error);
}

TEST_F(HttpClientTest, QueueBeyondItsBoundFailsAtOnce) {
    TestServer server(TestServer::Mode::Silent);
    Answers answers;
    auto small = options(5s, 1);
    small.max_queue = 2;
    auto client = std::make_unique<HttpClient>(small);
    for (int i = 0; i < 4; ++i) client->post(server.url(), "{}", answers.callback());
    const auto got = answers.wait(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].error, "queue full");  // one on the connection, two waiting, the fourth refused
    client.reset();
    EXPECT_EQ(answers.count(), 4u);
}

TEST_F(HttpClientTest, DestructorAnswersEveryRequestInFlightOnce) {
    TestServer server(TestServer::Mode::Silent);
    Answers answers;
    {
        HttpClient client(options(10s, 2));
        for (int i = 0; i < 5; ++i) client.post(server.url(), "{}", answers.callback());
        // Wait until both connections carry a request, so that some are on a connection and some queued.
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (server.requests < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        ASSERT_EQ(server.requests, 2);
    }
    const auto got = answers.wait(5, 0ms);  // all answered before the destructor returned
    ASSERT_EQ(got.size(), 5u);
    for (const auto& r : got) EXPECT_EQ(r.error, "shutting down");
}

TEST_F(HttpClientTest, DestroyedFromItsOwnCallback) {
    TestServer server(TestServer::Mode::Answer);
    TestServer silent(TestServer::Mode::Silent);
    Answers answers;
    // The only reference; the callback drops it, so ~HttpClient runs on the client's own thread.
    auto holder = std::make_shared<std::shared_ptr<HttpClient>>(std::make_shared<HttpClient>(options()));
    std::promise<void> posted;
    std::promise<void> dropped;
    (*holder)->post(silent.url(), "{}", answers.callback());  // stays in flight: the shutdown must answer it
    (*holder)->post(server.url(), "{}", [&, holder, wait = posted.get_future().share()](HttpResponse r) {
        EXPECT_EQ(r.status, 200) << r.error;
        wait.wait();  // the test thread is done with the client
        holder->reset();
        dropped.set_value();
    });
    posted.set_value();
    ASSERT_EQ(dropped.get_future().wait_for(10s), std::future_status::ready);
    const auto got = answers.wait(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].error, "shutting down");
}

}  // namespace
}  // namespace moth::auth
