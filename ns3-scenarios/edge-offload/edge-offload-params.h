/*
 * fedmarl-ns3: the parameters of the edge-offload scenario binary, with the names, defaults and
 * ranges of pybridge/scenarios/edge_offload/config.py (EdgeOffloadConfig), as fixed by
 * docs/scenarios/edge-offload-model.md section 1 (the binding model of issue 11).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_EDGE_OFFLOAD_PARAMS_H
#define FEDMARL_EDGE_OFFLOAD_PARAMS_H

#include "scenario-params.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ns3
{
namespace fedmarl
{

/**
 * @ingroup fedmarl
 * Every parameter of the edge-offload scenario, as EdgeOffloadConfig declares it (same name,
 * same default). Task classes c: 0 URLLC, 1 eMBB, 2 mMTC.
 */
/// mobility=alleys: the robots' minimum separation (m), fixed (issue 11 / DESIGN.md rules).
constexpr double kAlleyMinSeparation = 1.0;

struct EdgeOffloadParams
{
    int64_t n_users{20};                  //!< U (agents)
    int64_t n_servers{2};                 //!< E (one AP each)
    int64_t n_channels{4};                //!< K (20 MHz each, 6 GHz band)
    double channel_bandwidth_hz{20e6};    //!< Hz (only 20e6)
    double carrier_freq_ghz{6.0};         //!< GHz, InF path-loss frequency
    double tx_power_dbm{20.0};            //!< dBm, users and APs
    double noise_figure_db{7.0};          //!< dB
    std::string clutter{"sparse-high"};   //!< sparse-high (InF-SH) or dense-high (InF-DH)
    double hall_length{180.0};            //!< m
    double hall_width{80.0};              //!< m
    double ap_height{8.0};                //!< m
    double user_height{1.5};              //!< m
    double speed{1.5};                    //!< m/s
    /// random-waypoint or alleys (the factory robots' FactoryAlleyMobilityManager on one
    /// 180 m x 80 m tile, MinSeparation kAlleyMinSeparation)
    std::string mobility{"random-waypoint"};
    double shadow_corr_distance{10.0};    //!< m
    double interval_s{0.01};              //!< s, decision interval T
    int64_t episode_steps{200};           //!< intervals per episode
    double urllc_bits{1000};              //!< bit
    double urllc_deadline_s{0.010};       //!< s
    double urllc_rate{20.0};              //!< tasks/s
    double embb_bits{2e6};                //!< bit
    double embb_deadline_s{1.0};          //!< s
    double embb_rate{0.5};                //!< tasks/s
    double mmtc_bits{1600};               //!< bit
    double mmtc_deadline_s{10.0};         //!< s
    double mmtc_rate{1.0};                //!< tasks/s
    double cycles_per_bit{737.5};         //!< cycles/bit
    double kappa{1e-28};                  //!< J/cycle/Hz^2
    /// GHz, comma list; std::optional only because the shared table's free-string entry is
    /// AddOptional's (None is refused by CheckRelations).
    std::optional<std::string> cpu_levels_ghz{"0.3,0.6,1.0,1.5"};
    double cpu_idle_power_w{0.01};        //!< W
    double server_cpu_hz{20e9};           //!< Hz
    double result_bits{800};              //!< bit
    int64_t max_tasks{32};                //!< tasks a user holds at once
    double radio_voltage_v{3.0};          //!< V
    double radio_tx_current_a{0.380};     //!< A
    double radio_rx_current_a{0.313};     //!< A
    double w_success{1.0};                //!< reward weights
    double w_latency{0.5};
    double w_energy{10.0};                //!< 1/J
    double w_spectral{0.01};
    double w_fairness{0.0};
    int64_t seed{0};                      //!< master seed

    /// @return the InF sub-scenario: "SH" or "DH"
    std::string InfScenario() const;
    /// @return the CPU levels in Hz, increasing (cpu_levels_ghz parsed)
    std::vector<double> CpuLevelsHz() const;
    /// @return F, the number of CPU levels
    int64_t NumCpuLevels() const;
    /// @return the observation width W = 10 + K + 2E
    int64_t ObsWidth() const;
    /// @return bits, deadline (s) and rate (tasks/s) of class c
    double ClassBits(int c) const;
    double ClassDeadline(int c) const;
    double ClassRate(int c) const;

    /// The relations of EdgeOffloadConfig._validate_relations (rate x interval <= 1 per class,
    /// the CPU levels parse). @throws ParamError naming the parameters
    void ValidateRelations() const;
};

/**
 * Parse a CPU level list "0.3,0.6,1.0,1.5" (GHz): 1..16 strictly increasing values in (0, 10].
 * @throws ParamError naming --cpu_levels_ghz
 */
std::vector<double> ParseCpuLevelsGhz(const std::string& text);

/**
 * Users mobility=alleys can place: LaneCapacity of one 180 m x 80 m tile at kAlleyMinSeparation
 * (the twin's config.alley_capacity()).
 * @return the capacity
 */
uint32_t AlleyCapacity();

/// The parameter table: every field above with the dataclass's name, type, default, range.
const ParamTable<EdgeOffloadParams>& EdgeOffloadParamTable();

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_EDGE_OFFLOAD_PARAMS_H
