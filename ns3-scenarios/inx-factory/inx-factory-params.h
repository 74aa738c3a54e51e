/*
 * fedmarl-ns3: the parameters of the inx-factory scenario binary, with the names, defaults,
 * ranges and derived defaults of pybridge/scenarios/inx_factory/config.py (InxFactoryConfig).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_INX_FACTORY_PARAMS_H
#define FEDMARL_INX_FACTORY_PARAMS_H

#include "scenario-params.h"

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
 * Every parameter of the inx-factory scenario, as InxFactoryConfig declares it (same name, same
 * default, same order; std::nullopt where Python's default is None, i.e. derived from other
 * parameters), including the four packet-level ones the twin ignores. The Resolved* methods
 * derive the None defaults exactly as the dataclass's resolved_* properties do.
 */
struct InxFactoryParams
{
    // --- deployment
    int64_t n_subnetworks{20};              //!< N
    int64_t n_devices{1};                   //!< M
    int64_t n_channels{4};                  //!< K
    std::optional<int64_t> hall_tiles;      //!< nullopt = "auto"
    double subnetwork_radius{1.0};          //!< m
    double speed{3.0};                      //!< m/s
    double min_separation{1.0};             //!< m
    std::optional<double> ap_height;        //!< m; nullopt = 1.5 (low BS) or 8 (high BS)
    double device_height{1.5};              //!< m
    // --- radio
    double carrier_freq_ghz{6.0};           //!< GHz
    double channel_bandwidth_hz{10e6};      //!< Hz
    double tx_power_dbm{-10.0};             //!< dBm
    double noise_figure_db{10.0};           //!< dB
    std::string clutter{"sparse"};          //!< sparse, dense, sparse-high, dense-high, high-high
    std::optional<double> clutter_density;  //!< r; nullopt = calibration value
    std::optional<double> clutter_size;     //!< m; nullopt = calibration value
    std::optional<double> clutter_height;   //!< m; nullopt = calibration value
    double shadow_corr_distance{10.0};      //!< m
    std::optional<double> los_corr_distance; //!< m; nullopt = clutter size / 2
    int64_t blocklength{256};               //!< channel uses
    double error_prob{1e-5};                //!< target block error probability
    // --- decision process
    double step_duration{0.005};            //!< s
    int64_t episode_steps{200};             //!< decision steps per episode
    int64_t tau_max{10};                    //!< decision steps
    double r_min{11.0};                     //!< bps/Hz
    double lambda_rate{1.0};                //!< reward weight of the rate sum
    double lambda_penalty{1.0};             //!< reward weight of the shortfall
    std::string obs_quantity{"sinr"};       //!< sinr or interference
    std::string obs_reduce{"mean"};         //!< full, min, mean, max, median
    // --- packet level (ns-3 only)
    std::string traffic{"full-buffer"};     //!< full-buffer, poisson, periodic
    int64_t packet_size{32};                //!< bytes
    double packet_interval{1e-4};           //!< s
    int64_t queue_size{1000};               //!< packets
    // --- numerics
    int64_t large_scale_update_steps{10};   //!< decision steps between large-scale refreshes
    int64_t max_faded_interferers{64};      //!< faded interferers per device
    // --- twin only (accepted, so that one config drives both backends; ns-3 ignores them)
    std::string interference_model{"auto"}; //!< the twin's large-scale refresh
    double near_radius{50.0};               //!< m, the twin's neighbour refresh
    int64_t far_refresh_interval{4};        //!< refreshes, the twin's neighbour refresh
    std::optional<int64_t> seed;            //!< master seed; None: 0 (RngSeed 1)

    /// @return the InF sub-scenario (SL, DL, SH, DH, HH) that `clutter` selects
    std::string InfScenario() const;
    /// @return clutter_density, or the calibration value of the clutter type
    double ResolvedClutterDensity() const;
    /// @return clutter_size, or the calibration value, m
    double ResolvedClutterSize() const;
    /// @return clutter_height, or the calibration value, m
    double ResolvedClutterHeight() const;
    /// @return los_corr_distance, or ResolvedClutterSize() / 2, m
    double ResolvedLosCorrDistance() const;
    /// @return ap_height, or 8 m for SH/DH/HH and 1.5 m otherwise
    double ResolvedApHeight() const;
    /// @return hall_tiles, or max(1, ceil(sqrt(N / 100))) for "auto"
    int64_t ResolvedHallTiles() const;
    /// @return the observation width W: K, or K * M when obs_reduce = full
    int64_t ObsWidth() const;

    /**
     * The checks across parameters of InxFactoryConfig._validate_relations.
     * @throws ParamError with a message naming the parameters
     */
    void ValidateRelations() const;
};

/// The parameter table (ns3-scenarios/common/scenario-params.h): every field above with the
/// dataclass's name, type, default, range or choices, unit, doc and source, in its order.
const ParamTable<InxFactoryParams>& InxFactoryParamTable();

/**
 * Set parameters from command-line flags of the form --name=value.
 * @param flags the flags (each "--name=value")
 * @param p the parameters to update
 * @throws ParamError for an unknown flag or a bad value (one line, naming the flag and range)
 */
void ParseInxFactoryFlags(const std::vector<std::string>& flags, InxFactoryParams& p);

/// @return a JSON object {name: default} of every parameter (--params-json)
std::string InxFactoryParamsJson();

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_INX_FACTORY_PARAMS_H
