/**
 * FAUCET refuses a configuration with no DP, and a DP with no interface. So that FAUCET always
 * holds a valid, confirmable configuration (even before the first network, or on a host whose
 * operator defines no DP of their own), dovesnap keeps one placeholder DP while no other DP
 * exists, and removes it as soon as another does. No switch ever connects with its DPID.
 */
export const PLACEHOLDER_DP_NAME = 'dovesnap-placeholder';
/** Chosen high and odd so that it will not collide with a DPID a person types. */
export const PLACEHOLDER_DP_ID = 0xd0e5a9_0000_0001n;
export const PLACEHOLDER_VLAN = 4094;
export const PLACEHOLDER_DESCRIPTION = 'dovesnap placeholder: FAUCET needs one DP; no switch uses it';
