// `edgetwin up`: the whole stack on one machine — the cloud controller and its link broker, one edge node
// with its broker and twin, the mappers, simulated devices and the example apps — in one process.
import { join } from 'node:path';
import { ControllerClient } from '@edgetwin/device-controller/http/client';
import { DEFAULT_REST_PORT } from '@edgetwin/mappers/framework/rest/server';
import { deviceId } from '@edgetwin/api';
import type { Command } from 'commander';
import { EXAMPLES_DIR, type Example, findExample, listExamples, startExampleApp } from '../compose/examples.js';
import { deferOptimizer } from '../compose/heap-growth.js';
import { importTs } from '../compose/import-ts.js';
import { Lifecycle } from '../compose/lifecycle.js';
import { startLiveView } from '../compose/live-view.js';
import { cliLogger } from '../compose/logger.js';
import { localNodeJoinToken } from '../compose/local-node.js';
import { listManifestPaths, readManifestFiles } from '../compose/manifest-files.js';
import { parseNodeName, parsePort } from '../compose/options.js';
import { DEFAULTS, explainBusyPort } from '../compose/ports.js';
import {
  modbusPortFlags,
  opcuaPortFlags,
  pointModbusDevicesAt,
  pointOpcuaDevicesAt,
} from '../compose/simulator-address.js';
import { BUILTIN_MAPPERS } from './edge.js';
import { printFindings } from './print-findings.js';

interface TerminalRenderModule {
  renderDevice(
    id: string,
    snapshot: Record<string, { expected?: string; actual?: string }>,
    opts: { color: boolean },
  ): string;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run everything on this machine: controller, edge node, mappers, simulated devices and the examples')
    .option('--example <name...>', 'load only these examples (default: all of examples/)')
    .option('--manifests <dir...>', 'load these manifests instead of the examples (their devices go to --node)')
    .option('--node <name>', 'the edge node', parseNodeName, DEFAULTS.node)
    .option('--data-dir <dir>', 'state of both halves; starting again resumes from it', DEFAULTS.dataDir)
    .option('--port <port>', 'edge MQTT port (KubeEdge apps connect here)', parsePort, DEFAULTS.edgeMqttPort)
    .option('--cloud-port <port>', 'cloud-link MQTT port', parsePort, DEFAULTS.cloudMqttPort)
    .option('--http-port <port>', 'controller HTTP API port', parsePort, DEFAULTS.controllerHttpPort)
    .option(
      '--modbus-port <port>',
      'serve the simulated Modbus TCP devices on this port and point them at it (default: the ports their manifests name)',
      parsePort,
    )
    .option(
      '--rest-port <port>',
      `port of the mapper REST API on ${DEFAULTS.host} (KubeEdge's ${DEFAULT_REST_PORT}; its demos' web pages call it)`,
      parsePort,
      DEFAULT_REST_PORT,
    )
    .option('--no-rest', 'do not serve the mapper REST API')
    .option(
      '--opcua-port <port>',
      'serve the simulated OPC-UA devices on this port and point them at it (default: the ports their urls name)',
      parsePort,
    )
    .option('--no-simulators', 'start no simulated devices: the manifests name real ones (e.g. from `probe`)')
    .option('--no-view', 'do not draw the live device view in the terminal')
    .option('--no-apps', 'do not start the example edge apps')
    .action(async (o) => {
      // optimizing start-up code that runs once cost ~0.25 s of CPU to ready (issue 15, target 4)
      const optimizeFromNowOn = deferOptimizer();
      const viewing = o.view && process.stdout.isTTY;
      const examples: Example[] = o.manifests
        ? []
        : o.example
          ? (o.example as string[]).map(findExample)
          : listExamples();
      // Logs go to <data-dir>/up.log; while the live view redraws the terminal, nothing else is written to it
      // (a warning printed into the view left frozen copies of its lines: issue 16 §2).
      const logFile = join(o.dataDir, 'up.log');
      const logger = cliLogger(process.env.EDGETWIN_LOG_LEVEL ?? 'info', {
        file: logFile,
        fileLevel: process.env.EDGETWIN_LOG_LEVEL ?? 'info',
        terminal: !viewing,
      });
      const life = new Lifecycle(logger);
      const manifestDirs: string[] = o.manifests ?? examples.map((e) => e.manifestsDir);
      if (manifestDirs.length === 0) program.error('no manifests to load: pass --manifests DIR', { exitCode: 2 });
      const manifestPaths = await listManifestPaths(manifestDirs);
      // The parts load on use, so `edgetwin --help` and the small commands start fast.
      const { loadManifestFiles } = await import('@edgetwin/simulators');
      const { startCloud } = await import('../compose/start-cloud.js');
      const { startEdge } = await import('../compose/start-edge.js');
      const { startEmulatedBle, startEmulatedCameras, startSimulatedDevices, startSimulatedOpcua } = await import(
        '../compose/start-simulators.js'
      );
      const loaded = await loadManifestFiles(manifestPaths);
      const deviceIds = loaded.devices.map((d) => deviceId(d));

      try {
        const cloud = await startCloud(
          {
            source: 'embedded',
            dataDir: o.dataDir,
            httpHost: DEFAULTS.host,
            httpPort: o.httpPort,
            mqttHost: DEFAULTS.host,
            mqttPort: o.cloudPort,
            logger,
          },
          life,
        );
        const sim = o.simulators ? await startSimulatedDevices(manifestPaths, logger, life, o.modbusPort) : undefined;
        const opcua = o.simulators ? await startSimulatedOpcua(manifestPaths, logger, life, o.opcuaPort) : undefined;
        const ble = o.simulators ? await startEmulatedBle(manifestPaths, logger, life) : undefined;
        const cameras = o.simulators ? await startEmulatedCameras(manifestPaths, logger, life) : [];
        // One machine, one command: the cloud registers its own edge node, which joins with the token.
        const joinToken = await localNodeJoinToken(cloud.nodes, o.node, o.dataDir);
        const edge = await startEdge(
          {
            node: o.node,
            dataDir: o.dataDir,
            cloudUrl: cloud.linkUrl,
            ...(joinToken ? { joinToken } : {}),
            mqttHost: DEFAULTS.host,
            mqttPort: o.port,
            mappers: BUILTIN_MAPPERS,
            // loopback only, like every listener of `up`: no token needed (edgetwin edge --rest-host for more)
            ...(o.rest ? { rest: { port: o.restPort, host: DEFAULTS.host } } : {}),
            logger,
          },
          life,
        );

        // First start: apply the manifests. Later starts resume from the data dir as it was left.
        const client = new ControllerClient(cloud.controllerUrl, { token: cloud.apiToken });
        const existing = await client.devices();
        let resumed = false;
        if (existing.length === 0) {
          const files = await readManifestFiles(manifestDirs);
          const ok = await printFindings(() => client.apply(files));
          if (!ok) {
            await life.stopAll();
            process.exit(1);
          }
        } else {
          resumed = true;
        }
        if (sim && o.modbusPort !== undefined) {
          const tcp = sim.endpoints.filter((e) => e.kind === 'tcp');
          await pointModbusDevicesAt(
            client,
            tcp.flatMap((e) => e.devices),
            DEFAULTS.host,
            sim.port,
          );
        }

        if (opcua && o.opcuaPort !== undefined) {
          for (const { sim: server, devices } of opcua.servers)
            await pointOpcuaDevicesAt(client, devices, DEFAULTS.host, server.port);
        }

        if (o.apps) {
          for (const ex of examples) {
            const app = await startExampleApp(ex, { brokerUrl: edge.brokerUrl, node: o.node, logger });
            if (app) life.add(`${ex.name} app`, () => app.stop());
          }
        }

        // a one-time login link for the web console, so the long-lived token is never shown on screen
        const { ticket } = await client.consoleTicket();
        const lines = [
          `edgetwin is up (state in ${o.dataDir}${resumed ? ', resumed' : ''})`,
          `  controller API    ${cloud.controllerUrl}   (URL and token in ${cloud.clientFile})`,
          `  web console       ${cloud.controllerUrl}/console/#ticket=${ticket}   (one-time login link; later: the token in ${join(o.dataDir, 'api-token')})`,
          `  cloud link MQTT   ${cloud.linkUrl}`,
          `  edge MQTT         ${edge.brokerUrl}   <- KubeEdge apps and mappers connect here`,
          `  edge node         ${o.node} (twin ${edge.dbPath})`,
          ...(edge.restUrl
            ? [`  mapper REST API   ${edge.restUrl}/api/v1   (KubeEdge's mapper routes: ping, device, devicemethod)`]
            : []),
          `  logs              ${logFile}`,
          ...(sim ? sim.endpoints.map((e) => `  modbus simulator  ${e.host}:${e.port} (${e.devices.join(', ')})`) : []),
          ...(opcua ? opcua.servers.map((s) => `  opcua simulator   ${s.sim.url} (${s.devices.join(', ')})`) : []),
          ...(ble ? [`  BLE peripherals   adapter uart:${ble.ptyPath} (emulated: sensor, lamp, beacon)`] : []),
          ...cameras.map((c) => `  ONVIF camera      ${c.server.deviceUrl} (emulated: ${c.device})`),
          `  examples          ${examples.map((e) => e.name).join(', ') || 'none'}`,
          'Try, in another terminal:',
          '  npx edgetwin get devices',
          ...(deviceIds.includes('default/led-light-instance-01')
            ? ['  npx edgetwin twin set led-light-instance-01 power-status=ON']
            : []),
          ...(deviceIds.includes('default/traffic-light-01')
            ? ['  npx edgetwin twin set traffic-light-01 mode=manual red=ON']
            : []),
          ...(deviceIds.includes('default/line-plc-01')
            ? ['  npx edgetwin twin set line-plc-01 setpoint=200 running=true']
            : []),
          `  mosquitto_sub -h 127.0.0.1 -p ${new URL(edge.brokerUrl).port} -t '$hw/events/device/+/+/twin/update/document' -v`,
          'Ctrl-C stops everything; running `npx edgetwin up` again resumes.',
          '',
        ];
        process.stdout.write(lines.join('\n'));
        optimizeFromNowOn();

        if (viewing) {
          // the view follows the controller (devices applied while up runs appear); the demos' look for a line
          const renderFile = join(EXAMPLES_DIR, 'shared', 'terminal-render.ts');
          const { renderDevice } = await importTs<TerminalRenderModule>(renderFile);
          const running = await startLiveView({
            client,
            out: process.stdout,
            render: (id, snapshot) => renderDevice(id, snapshot, { color: true }),
            divert: (text, stream) => logger.warn({ stream }, text.trimEnd()),
          });
          life.add('live view', () => running.stop());
        }
      } catch (e) {
        await life.stopAll();
        throw explainBusyPort(e, [
          [o.port, '--port'],
          [o.cloudPort, '--cloud-port'],
          [o.httpPort, '--http-port'],
          ...(o.rest ? ([[o.restPort, '--rest-port']] as Array<[number, string]>) : []),
          ...modbusPortFlags(loaded.devices, o.modbusPort),
          ...opcuaPortFlags(loaded.devices, o.opcuaPort),
        ]);
      }
      await life.untilSignal((line) => process.stdout.write(`\n${line}\n`));
    });
}
