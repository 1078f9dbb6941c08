#include "support/daemon_process.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "udpsieve/cli/client.hpp"

namespace udpsieve::test {
namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -1;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& output_path) {
  std::vector<char*> raw;
  raw.reserve(argv.size() + 1);
  for (const std::string& arg : argv)
    raw.push_back(const_cast<char*>(arg.c_str()));
  raw.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fd = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    // Start with no blocked signals whatever the test runner blocked.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  return pid;
}

std::optional<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return decode_status(status);
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string binary_dir() {
  return UDPSIEVE_BINARY_DIR;
}
std::string source_dir() {
  return UDPSIEVE_SOURCE_DIR;
}

bool in_ci() {
  const char* ci = std::getenv("UDPSIEVE_CI");
  return ci != nullptr && *ci != '\0' && std::string(ci) != "0";
}

std::string unique_prefix(const std::string& name) {
  std::string clean;
  for (char c : name)
    clean += (std::isalnum(static_cast<unsigned char>(c)) != 0) ? c : '_';
  std::string prefix = "t_" + clean.substr(0, 40) + "_" + std::to_string(getpid());
  // DPDK keeps /var/run/dpdk/PREFIX after exit (for secondary processes); a test's prefix is
  // used once, so remove its directory when the test process ends.
  static std::vector<std::string> prefixes;
  static const bool registered = std::atexit([] {
                                   for (const std::string& used : prefixes) {
                                     std::error_code ec;
                                     std::filesystem::remove_all("/var/run/dpdk/" + used, ec);
                                   }
                                 }) == 0;
  (void)registered;
  prefixes.push_back(prefix);
  return prefix;
}

RunResult run_program(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  TempDir dir;
  const std::string output = (dir.path() / "output").string();
  const pid_t pid = spawn(argv, output);
  RunResult result;
  const std::optional<int> code = wait_pid(pid, timeout);
  if (!code) {
    kill(pid, SIGKILL);
    (void)wait_pid(pid, std::chrono::seconds(10));
  }
  result.exit_code = code.value_or(-1);
  result.output = read_file(output);
  return result;
}

DaemonProcess::DaemonProcess(const std::vector<std::string>& args, std::string log_path)
    : log_path_(std::move(log_path)) {
  std::vector<std::string> argv = {binary_dir() + "/udpsieved"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(argv, log_path_);
}

DaemonProcess::~DaemonProcess() {
  if (!status_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    (void)wait_pid(pid_, std::chrono::seconds(10));
  }
}

std::optional<int> DaemonProcess::exited() {
  if (!status_) status_ = wait_pid(pid_, std::chrono::milliseconds(0));
  return status_;
}

bool DaemonProcess::wait_ready(const std::string& socket, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (exited()) return false;
    try {
      (void)cli::request(socket, cli::command_request("version"), std::chrono::seconds(2));
      return true;
    } catch (const cli::ClientError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return false;
}

nlohmann::json DaemonProcess::request(const std::string& socket, const std::string& command) const {
  return nlohmann::json::parse(cli::request(socket, cli::command_request(command)));
}

std::optional<nlohmann::json> DaemonProcess::wait_rx(const std::string& socket, uint64_t packets,
                                                     std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (exited()) return std::nullopt;
    nlohmann::json stats = request(socket, "stats");
    if (stats["totals"]["rx_packets"].get<uint64_t>() >= packets) return stats;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

int DaemonProcess::stop(int signal, std::chrono::seconds timeout) {
  if (exited()) return *status_;
  kill(pid_, signal);
  status_ = wait_pid(pid_, timeout);
  if (!status_) {
    kill(pid_, SIGKILL);
    (void)wait_pid(pid_, std::chrono::seconds(10));
    status_ = -1;
  }
  return *status_;
}

std::string DaemonProcess::log() const {
  return read_file(log_path_);
}

std::vector<std::vector<uint8_t>> read_pcap(const std::string& path) {
  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap = pcap_open_offline(path.c_str(), error);
  if (pcap == nullptr) throw std::runtime_error("cannot read " + path + ": " + error);
  std::vector<std::vector<uint8_t>> frames;
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(pcap, &header, &data) == 1)
    frames.emplace_back(data, data + header->caplen);
  pcap_close(pcap);
  return frames;
}

void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames) {
  pcap_t* pcap = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* dumper = pcap_dump_open(pcap, path.c_str());
  if (dumper == nullptr) {
    pcap_close(pcap);
    throw std::runtime_error("cannot write " + path);
  }
  for (const auto& frame : frames) {
    pcap_pkthdr header{};
    header.caplen = static_cast<bpf_u_int32>(frame.size());
    header.len = header.caplen;
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.data());
  }
  pcap_dump_close(dumper);
  pcap_close(pcap);
}

std::vector<std::pair<std::string, uint64_t>> final_totals(const std::string& log) {
  std::vector<std::pair<std::string, uint64_t>> out;
  const std::string marker = "final totals: ";
  const auto start = log.rfind(marker);
  if (start == std::string::npos) return out;
  std::istringstream line(
      log.substr(start + marker.size(), log.find('\n', start) - start - marker.size()));
  std::string field;
  while (line >> field) {
    const auto eq = field.find('=');
    if (eq == std::string::npos) continue;
    out.emplace_back(field.substr(0, eq), std::stoull(field.substr(eq + 1)));
  }
  return out;
}

std::optional<uint64_t> final_total(const std::string& log, const std::string& key) {
  for (const auto& [name, value] : final_totals(log)) {
    if (name == key) return value;
  }
  return std::nullopt;
}

}  // namespace udpsieve::test
