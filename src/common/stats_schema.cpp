#include "udpsieve/common/stats_schema.hpp"

namespace udpsieve {

std::string_view stat_name(WorkerStat stat) noexcept {
  return kWorkerStats[index_of(stat)].name;
}
std::string_view stat_name(DropReason reason) noexcept {
  return kDropReasons[index_of(reason)].name;
}
std::string_view stat_name(PortStat stat) noexcept {
  return kPortStats[index_of(stat)].name;
}

}  // namespace udpsieve
