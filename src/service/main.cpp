#include <string>
#include <vector>

#include "udpsieve/service/daemon.hpp"

int main(int argc, char** argv) {
  return udpsieve::service::run_daemon(std::vector<std::string>(argv, argv + argc));
}
