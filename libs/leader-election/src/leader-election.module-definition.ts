import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { LeaderElectionModuleOptions } from './leader-election.options';

/** Extras of `forRoot` / `forRootAsync` beside the options themselves. */
export interface LeaderElectionModuleExtras {
  /** Register the module globally, so that feature modules inject the service without importing it. Default `true`. */
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: LEADER_ELECTION_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<LeaderElectionModuleOptions>({ moduleName: 'LeaderElection' })
  .setClassMethodName('forRoot')
  .setExtras<LeaderElectionModuleExtras>({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal ?? true,
  }))
  .build();
