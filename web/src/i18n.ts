// Two languages, English and Portuguese (Brazil): chosen from navigator.language on the first visit, then from
// the switch in the header (kept in localStorage). A message that depends on a count ("1 frame", "2 frames") has
// one key per plural category of Intl.PluralRules, `<base>.one`, `<base>.other`, ...: `t(base, { count })` picks
// the language's own category for the count, `.other` when the dictionary has no message for that category.
import { createContext } from "preact";
import { useContext } from "preact/hooks";

export type Locale = "en" | "pt-BR";
export const LOCALES: Locale[] = ["en", "pt-BR"];
const LOCALE_KEY = "fiapx.locale";

const en = {
  "app.name": "FIAP X",
  "app.tagline": "Frames from your videos",
  "app.skip": "Skip to content",
  "nav.videos": "Videos",
  "nav.settings": "Settings",
  "nav.signOut": "Sign out",
  "nav.language": "Language",
  "nav.main": "Main",
  "auth.signIn": "Sign in",
  "auth.register": "Create account",
  "auth.email": "E-mail",
  "auth.password": "Password",
  "auth.passwordHint": "At least 10 characters.",
  "auth.displayName": "Your name",
  "auth.noAccount": "No account yet?",
  "auth.haveAccount": "Already have an account?",
  "auth.working": "Please wait…",
  "upload.title": "Upload videos",
  "upload.drop": "Drop video files here, or choose them",
  "upload.choose": "Choose files",
  "upload.spec": "Frame extraction",
  "upload.mode": "Frames",
  "upload.mode.fps": "Frames per second",
  "upload.mode.every": "One frame every N seconds",
  "upload.mode.count": "Fixed number of frames",
  "upload.mode.at": "Frames at given times",
  "upload.mode.scene": "Scene changes",
  "upload.mode.keyframes": "Keyframes only",
  "upload.value": "Value",
  "upload.value.fps": "Frames per second (e.g. 1, 0.5, 30000/1001)",
  "upload.value.every": "Seconds between frames (e.g. 2, 2.5)",
  "upload.value.count": "Number of frames",
  "upload.value.at": "Positions, separated by commas",
  "upload.value.scene": "Change threshold, above {above} and at most {max} (e.g. 0.3)",
  "upload.hint.at":
    "Each one first, last, seconds (12.5), a time (1:05, 01:02:03.250) or a share of the duration (10%); {min} to {max} positions, in any order: the frames come in time order.",
  "upload.hint.scene": "The first frame, then each one that differs this much from the one before: 0.3 to 0.4 finds cuts. Every frame is decoded, so this is the slowest mode.",
  "upload.hint.keyframes": "Every keyframe of the video and nothing else: the fastest mode, as only keyframes are decoded.",
  "upload.minGap": "Least seconds between frames (e.g. 2; empty: {default})",
  "upload.format": "Image format",
  "upload.quality": "JPEG quality ({min}–{max})",
  "upload.maxWidth": "Maximum width in pixels (optional)",
  "upload.maxHeight": "Maximum height in pixels (optional)",
  "upload.storyboard": "Scrub previews (storyboard)",
  "upload.hint.storyboard":
    "Small frames every few seconds, tiled into JPEG sheets: the video's page shows the one under the slider as you scrub through the video.",
  "upload.storyboardEvery": "Seconds between previews ({min} to {max}, e.g. 10)",
  "upload.storyboardWidth": "Preview width in pixels ({min}–{max})",
  "upload.storyboardColumns": "Previews per row of a sheet ({min}–{max})",
  "upload.storyboardRows": "Rows per sheet ({min}–{max})",
  "upload.invalid.fps": "Enter a positive number of frames per second, at most {max} (a fraction like 30000/1001 is fine).",
  "upload.invalid.every":
    "Enter a positive number of seconds between frames, at least 1/{maxFps} (a fraction like 5/2 is fine).",
  "upload.invalid.count": "Enter a whole number of frames from {min} to {max}.",
  "upload.invalid.at.count": "Enter from {min} to {max} positions, separated by commas.",
  "upload.invalid.at.long": "Too long: the positions take at most {max} characters.",
  "upload.invalid.at.empty": "A position is empty: remove the extra comma.",
  "upload.invalid.at.position":
    "“{position}” is not a position: use first, last, seconds (12.5), a time (1:05, 01:02:03.250) or a percentage up to 100% (10%).",
  "upload.invalid.scene": "Enter a threshold above {above} and at most {max}, such as 0.3 (a fraction like 3/10 is fine).",
  "upload.invalid.minGap": "Enter zero or more seconds between frames, such as 2 or 0.5, or leave it empty.",
  "upload.invalid.quality": "Quality is a whole number from {min} to {max}.",
  "upload.invalid.maxWidth": "Maximum width is a whole number from {min} to {max}, or empty.",
  "upload.invalid.maxHeight": "Maximum height is a whole number from {min} to {max}, or empty.",
  "upload.invalid.storyboardEvery":
    "Enter the seconds between previews, from {min} to {max}, such as 10 or 2.5 (a fraction like 5/2 is fine).",
  "upload.invalid.storyboardWidth": "Preview width is a whole number from {min} to {max}.",
  "upload.invalid.storyboardColumns": "Previews per row is a whole number from {min} to {max}.",
  "upload.invalid.storyboardRows": "Rows per sheet is a whole number from {min} to {max}.",
  "upload.start": "Upload",
  "upload.cancel": "Cancel",
  "upload.queued": "Waiting",
  "upload.sending": "Uploading {percent}%",
  "upload.resuming": "Resuming from {from}%: uploading {percent}%",
  "upload.waiting": "Refused for now: {message}. Trying again in {wait} (retry {retry} of {retries}).",
  "upload.done": "Uploaded: queued for extraction",
  "upload.doneResumed": "Uploaded (resumed from {from}%): queued for extraction",
  "upload.failed": "Failed: {message}",
  "upload.cancelled": "Cancelled",
  "upload.progressLabel": "Upload of {name}",
  "upload.files": "Files",
  "upload.clear": "Clear finished",
  "videos.title": "Your videos",
  "videos.filter": "Show",
  "videos.filter.all": "All",
  "videos.empty": "No videos yet. Upload one above to get its frames.",
  "videos.emptyFiltered": "No videos with this status.",
  "videos.loading": "Loading videos…",
  "videos.more": "Load more",
  "videos.retry": "Try again",
  "videos.uploaded": "Uploaded {date}",
  "status.queued": "Queued",
  "status.processing": "Processing",
  "status.retry_scheduled": "Retry scheduled",
  "status.completed": "Completed",
  "status.failed": "Failed",
  "status.deleted": "Deleted",
  "stage.downloading": "downloading",
  "stage.extracting": "extracting",
  "stage.uploading": "packing the ZIP",
  "live.attempt": "Attempt {attempt}",
  "live.frames.one": "{done} of {count} frame",
  "live.frames.other": "{done} of {count} frames",
  "live.framesDone.one": "{count} frame",
  "live.framesDone.other": "{count} frames",
  "live.progress": "Extraction progress",
  "live.retrying": "Live status reconnecting…",
  "live.willRetry": "Another attempt is scheduled.",
  "video.back": "Back to your videos",
  "video.loading": "Loading video…",
  "video.details": "Details",
  "video.size": "Size",
  "video.type": "Type",
  "video.spec": "Extraction",
  "video.job": "Job",
  "video.frames": "Frames",
  "video.archive": "ZIP size",
  "video.created": "Uploaded",
  "video.updated": "Last change",
  "video.download": "Download ZIP",
  "video.reprocess": "Process again",
  "video.reprocessSpec": "Extraction for the new run",
  "video.reprocessStart": "Start processing",
  "video.reprocessCancel": "Keep as it is",
  "video.reprocessed": "Queued for processing again.",
  "video.delete": "Delete",
  "video.deleteConfirm": "Delete this video and its frames? This cannot be undone.",
  "video.deleted": "Video deleted.",
  "video.timeline": "Timeline",
  "video.timelineEmpty": "Nothing happened yet.",
  "video.framesTitle": "Extracted frames",
  "video.framesLoading": "Loading frames…",
  "video.framesFailed": "The frames could not be shown ({message}). The download still works.",
  "video.framesNone": "The frames appear here when the video is completed.",
  "video.framesShown": "{shown} of {count} shown",
  "video.framesMore": "More frames",
  "video.frameAlt": "Frame {number} at {time}",
  "video.scrubTitle": "Scrub preview",
  "video.scrubLabel": "Position in the video",
  "video.scrubAlt": "Preview at {time}",
  "video.scrubAt": "{time} of {duration}",
  "video.failure": "Why it failed",
  "video.share": "Share a read-only link",
  "video.shareExpiry": "Link valid for",
  "video.shareCreate": "Create link",
  "video.shareLink": "Read-only link",
  "video.shareExpires": "Expires {date}",
  "video.shares": "Links created",
  "video.shareCreatedOn": "Created {date}",
  "video.shareActive": "active until {date}",
  "video.shareRevoked": "revoked",
  "video.shareExpired": "expired",
  "video.shareRevoke": "Revoke",
  "video.copy": "Copy",
  "video.copied": "Copied.",
  "spec.at": "frames at {positions}",
  "spec.atMany": "frames at {positions}, … ({count} positions)",
  "spec.first": "first",
  "spec.last": "last",
  "spec.scene": "scene changes > {threshold}",
  "spec.sceneGap": "scene changes > {threshold} (≥ {gap} s apart)",
  "spec.keyframes": "keyframes",
  "spec.storyboard": "scrub previews every {every} s",
  "count.hours.one": "{count} hour",
  "count.hours.other": "{count} hours",
  "count.days.one": "{count} day",
  "count.days.other": "{count} days",
  "count.seconds.one": "{count} second",
  "count.seconds.other": "{count} seconds",
  "count.attempts.one": "{count} attempt",
  "count.attempts.other": "{count} attempts",
  "event.uploaded": "Uploaded",
  "event.processing_started": "Processing started",
  "event.completed": "Completed",
  "event.failed": "Failed",
  "event.reprocess_requested": "Reprocess requested",
  "event.deleted": "Deleted",
  "share.title": "Shared video",
  "share.readOnly": "You are viewing a shared video: read-only, until the link expires.",
  "share.invalid": "This link is invalid or has expired.",
  "settings.title": "Settings",
  "settings.notifications": "E-mail notifications",
  "settings.email_on_failure": "E-mail me when a video fails",
  "settings.email_on_completion": "E-mail me when a video is done",
  "settings.webhook_on_completion": "Call my webhooks when a video is done (failures always are)",
  "settings.save": "Save",
  "settings.saved": "Saved.",
  "settings.webhooks": "Webhooks",
  "settings.webhookUrl": "Webhook URL (https)",
  "settings.webhookAdd": "Add webhook",
  "settings.webhookNone": "No webhooks yet.",
  "settings.webhookSecret": "Signing secret (shown only now; copy it): {secret}",
  "settings.webhookDelete": "Remove",
  "settings.deliveries": "Deliveries",
  "settings.deliveriesNone": "No deliveries yet.",
  "settings.redeliver": "Redeliver",
  "settings.redeliverBusy": "It is being sent right now; try again in a moment.",
  "settings.callbackSecret": "Callback signing secret",
  "settings.callbackSecretAbout":
    "Uploads that pass callback_url have their callbacks signed with this secret (X-Fiapx-Signature), like webhooks.",
  "settings.callbackSecretSince": "Active since {date}.",
  "settings.callbackSecretNone": "None yet: callbacks fail until you create one.",
  "settings.callbackSecretCreate": "Create secret",
  "settings.callbackSecretReplace": "Replace secret",
  "settings.callbackSecretReplaceConfirm": "Replace the callback signing secret? The old one stops signing at once.",
  "settings.callbackSecretShown": "Callback signing secret (shown only now; copy it): {secret}",
  "settings.callbackDeliveries": "Callback deliveries",
  "settings.loading": "Loading…",
  "settings.password": "Change password",
  "settings.passwordCurrent": "Current password",
  "settings.passwordNew": "New password",
  "settings.passwordHint": "10 to 128 characters, not one character repeated, not containing the name of your e-mail address.",
  "settings.passwordConfirm": "New password again",
  "settings.passwordSubmit": "Change password",
  "settings.passwordMismatch": "The new password and its confirmation are not the same.",
  "settings.passwordChanged": "Password changed. Your other sessions were signed out; this one stays signed in.",
  "settings.passwordWrong": "The current password is wrong.",
  "settings.passwordWeak": "The new password was refused: {message}",
  "notFound.title": "Page not found",
  "error.generic": "Something went wrong: {message}",
  "error.network": "The server cannot be reached. Check your connection and try again.",
  "error.invalid_credentials": "Wrong e-mail or password.",
  "error.email_taken": "An account with this e-mail already exists.",
  "error.weak_password": "The password must have at least 10 characters.",
  "error.rate_limited": "Too many requests ({message}). Wait a moment and try again.",
  "error.rate_limited.wait": "Too many requests ({message}). Try again in {wait}.",
  "error.unsupported_media_type": "This file is not a video container we can read.",
  "error.too_large": "This file is larger than the upload limit.",
  "error.too_slow": "The upload came in too slowly and was cut. Try again on a faster connection.",
  "error.invalid_spec": "The extraction settings are not valid: {message}",
  "error.not_found": "Not found.",
  "error.not_ready": "The frames are not ready yet.",
  "error.conflict": "Not possible in the video's current state.",
  "error.forbidden": "Not allowed.",
  "error.unavailable": "The service is busy. Try again in a moment.",
};

export type MessageKey = keyof typeof en;
type Dictionary = Record<MessageKey, string>;

const ptBR: Dictionary = {
  "app.name": "FIAP X",
  "app.tagline": "Quadros dos seus vídeos",
  "app.skip": "Pular para o conteúdo",
  "nav.videos": "Vídeos",
  "nav.settings": "Configurações",
  "nav.signOut": "Sair",
  "nav.language": "Idioma",
  "nav.main": "Principal",
  "auth.signIn": "Entrar",
  "auth.register": "Criar conta",
  "auth.email": "E-mail",
  "auth.password": "Senha",
  "auth.passwordHint": "Pelo menos 10 caracteres.",
  "auth.displayName": "Seu nome",
  "auth.noAccount": "Ainda não tem conta?",
  "auth.haveAccount": "Já tem uma conta?",
  "auth.working": "Aguarde…",
  "upload.title": "Enviar vídeos",
  "upload.drop": "Solte arquivos de vídeo aqui ou escolha-os",
  "upload.choose": "Escolher arquivos",
  "upload.spec": "Extração de quadros",
  "upload.mode": "Quadros",
  "upload.mode.fps": "Quadros por segundo",
  "upload.mode.every": "Um quadro a cada N segundos",
  "upload.mode.count": "Número fixo de quadros",
  "upload.mode.at": "Quadros em momentos escolhidos",
  "upload.mode.scene": "Mudanças de cena",
  "upload.mode.keyframes": "Só quadros-chave",
  "upload.value": "Valor",
  "upload.value.fps": "Quadros por segundo (ex.: 1, 0.5, 30000/1001)",
  "upload.value.every": "Segundos entre quadros (ex.: 2, 2.5)",
  "upload.value.count": "Número de quadros",
  "upload.value.at": "Posições, separadas por vírgulas",
  "upload.value.scene": "Limiar de mudança, acima de {above} e no máximo {max} (ex.: 0.3)",
  "upload.hint.at":
    "Cada uma first (o primeiro), last (o último), segundos (12.5), um tempo (1:05, 01:02:03.250) ou uma fração da duração (10%); de {min} a {max} posições, em qualquer ordem: os quadros saem em ordem de tempo.",
  "upload.hint.scene":
    "O primeiro quadro, depois cada um que difere tanto assim do anterior: 0.3 a 0.4 encontra os cortes. Todos os quadros são decodificados: é o modo mais lento.",
  "upload.hint.keyframes": "Todos os quadros-chave do vídeo e nada mais: o modo mais rápido, pois só os quadros-chave são decodificados.",
  "upload.minGap": "Mínimo de segundos entre quadros (ex.: 2; vazio: {default})",
  "upload.format": "Formato da imagem",
  "upload.quality": "Qualidade JPEG ({min}–{max})",
  "upload.maxWidth": "Largura máxima em pixels (opcional)",
  "upload.maxHeight": "Altura máxima em pixels (opcional)",
  "upload.storyboard": "Prévias de navegação (storyboard)",
  "upload.hint.storyboard":
    "Quadros pequenos a cada poucos segundos, em folhas JPEG: a página do vídeo mostra o que está sob o controle deslizante enquanto você percorre o vídeo.",
  "upload.storyboardEvery": "Segundos entre prévias (de {min} a {max}, ex.: 10)",
  "upload.storyboardWidth": "Largura da prévia em pixels ({min}–{max})",
  "upload.storyboardColumns": "Prévias por linha da folha ({min}–{max})",
  "upload.storyboardRows": "Linhas por folha ({min}–{max})",
  "upload.invalid.fps":
    "Informe um número positivo de quadros por segundo, no máximo {max} (uma fração como 30000/1001 serve).",
  "upload.invalid.every":
    "Informe um número positivo de segundos entre quadros, no mínimo 1/{maxFps} (uma fração como 5/2 serve).",
  "upload.invalid.count": "Informe um número inteiro de quadros de {min} a {max}.",
  "upload.invalid.at.count": "Informe de {min} a {max} posições, separadas por vírgulas.",
  "upload.invalid.at.long": "Longo demais: as posições ocupam no máximo {max} caracteres.",
  "upload.invalid.at.empty": "Há uma posição vazia: tire a vírgula a mais.",
  "upload.invalid.at.position":
    "“{position}” não é uma posição: use first, last, segundos (12.5), um tempo (1:05, 01:02:03.250) ou uma porcentagem até 100% (10%).",
  "upload.invalid.scene": "Informe um limiar acima de {above} e no máximo {max}, como 0.3 (uma fração como 3/10 serve).",
  "upload.invalid.minGap": "Informe zero ou mais segundos entre quadros, como 2 ou 0.5, ou deixe vazio.",
  "upload.invalid.quality": "A qualidade é um número inteiro de {min} a {max}.",
  "upload.invalid.maxWidth": "A largura máxima é um número inteiro de {min} a {max}, ou vazia.",
  "upload.invalid.maxHeight": "A altura máxima é um número inteiro de {min} a {max}, ou vazia.",
  "upload.invalid.storyboardEvery":
    "Informe os segundos entre prévias, de {min} a {max}, como 10 ou 2.5 (uma fração como 5/2 serve).",
  "upload.invalid.storyboardWidth": "A largura da prévia é um número inteiro de {min} a {max}.",
  "upload.invalid.storyboardColumns": "As prévias por linha são um número inteiro de {min} a {max}.",
  "upload.invalid.storyboardRows": "As linhas por folha são um número inteiro de {min} a {max}.",
  "upload.start": "Enviar",
  "upload.cancel": "Cancelar",
  "upload.queued": "Aguardando",
  "upload.sending": "Enviando {percent}%",
  "upload.resuming": "Retomando de {from}%: enviando {percent}%",
  "upload.waiting": "Recusado por enquanto: {message}. Nova tentativa em {wait} ({retry} de {retries}).",
  "upload.done": "Enviado: na fila para extração",
  "upload.doneResumed": "Enviado (retomado de {from}%): na fila para extração",
  "upload.failed": "Falhou: {message}",
  "upload.cancelled": "Cancelado",
  "upload.progressLabel": "Envio de {name}",
  "upload.files": "Arquivos",
  "upload.clear": "Limpar concluídos",
  "videos.title": "Seus vídeos",
  "videos.filter": "Mostrar",
  "videos.filter.all": "Todos",
  "videos.empty": "Nenhum vídeo ainda. Envie um acima para obter seus quadros.",
  "videos.emptyFiltered": "Nenhum vídeo com este status.",
  "videos.loading": "Carregando vídeos…",
  "videos.more": "Carregar mais",
  "videos.retry": "Tentar de novo",
  "videos.uploaded": "Enviado {date}",
  "status.queued": "Na fila",
  "status.processing": "Processando",
  "status.retry_scheduled": "Nova tentativa agendada",
  "status.completed": "Concluído",
  "status.failed": "Falhou",
  "status.deleted": "Excluído",
  "stage.downloading": "baixando",
  "stage.extracting": "extraindo",
  "stage.uploading": "montando o ZIP",
  "live.attempt": "Tentativa {attempt}",
  "live.frames.one": "{done} de {count} quadro",
  "live.frames.other": "{done} de {count} quadros",
  "live.framesDone.one": "{count} quadro",
  "live.framesDone.other": "{count} quadros",
  "live.progress": "Progresso da extração",
  "live.retrying": "Reconectando o status ao vivo…",
  "live.willRetry": "Uma nova tentativa está agendada.",
  "video.back": "Voltar aos seus vídeos",
  "video.loading": "Carregando vídeo…",
  "video.details": "Detalhes",
  "video.size": "Tamanho",
  "video.type": "Tipo",
  "video.spec": "Extração",
  "video.job": "Tarefa",
  "video.frames": "Quadros",
  "video.archive": "Tamanho do ZIP",
  "video.created": "Enviado",
  "video.updated": "Última mudança",
  "video.download": "Baixar ZIP",
  "video.reprocess": "Processar de novo",
  "video.reprocessSpec": "Extração da nova execução",
  "video.reprocessStart": "Iniciar o processamento",
  "video.reprocessCancel": "Deixar como está",
  "video.reprocessed": "Na fila para processar de novo.",
  "video.delete": "Excluir",
  "video.deleteConfirm": "Excluir este vídeo e seus quadros? Não é possível desfazer.",
  "video.deleted": "Vídeo excluído.",
  "video.timeline": "Linha do tempo",
  "video.timelineEmpty": "Nada aconteceu ainda.",
  "video.framesTitle": "Quadros extraídos",
  "video.framesLoading": "Carregando quadros…",
  "video.framesFailed": "Não foi possível mostrar os quadros ({message}). O download continua funcionando.",
  "video.framesNone": "Os quadros aparecem aqui quando o vídeo estiver concluído.",
  "video.framesShown": "{shown} de {count} mostrados",
  "video.framesMore": "Mais quadros",
  "video.frameAlt": "Quadro {number} em {time}",
  "video.scrubTitle": "Prévia de navegação",
  "video.scrubLabel": "Posição no vídeo",
  "video.scrubAlt": "Prévia em {time}",
  "video.scrubAt": "{time} de {duration}",
  "video.failure": "Por que falhou",
  "video.share": "Compartilhar um link somente leitura",
  "video.shareExpiry": "Link válido por",
  "video.shareCreate": "Criar link",
  "video.shareLink": "Link somente leitura",
  "video.shareExpires": "Expira {date}",
  "video.shares": "Links criados",
  "video.shareCreatedOn": "Criado em {date}",
  "video.shareActive": "ativo até {date}",
  "video.shareRevoked": "revogado",
  "video.shareExpired": "expirado",
  "video.shareRevoke": "Revogar",
  "video.copy": "Copiar",
  "video.copied": "Copiado.",
  "spec.at": "quadros em {positions}",
  "spec.atMany": "quadros em {positions}, … ({count} posições)",
  "spec.first": "primeiro",
  "spec.last": "último",
  "spec.scene": "mudanças de cena > {threshold}",
  "spec.sceneGap": "mudanças de cena > {threshold} (≥ {gap} s entre si)",
  "spec.keyframes": "quadros-chave",
  "spec.storyboard": "prévias de navegação a cada {every} s",
  "count.hours.one": "{count} hora",
  "count.hours.other": "{count} horas",
  "count.days.one": "{count} dia",
  "count.days.other": "{count} dias",
  "count.seconds.one": "{count} segundo",
  "count.seconds.other": "{count} segundos",
  "count.attempts.one": "{count} tentativa",
  "count.attempts.other": "{count} tentativas",
  "event.uploaded": "Enviado",
  "event.processing_started": "Processamento iniciado",
  "event.completed": "Concluído",
  "event.failed": "Falhou",
  "event.reprocess_requested": "Reprocessamento pedido",
  "event.deleted": "Excluído",
  "share.title": "Vídeo compartilhado",
  "share.readOnly": "Você está vendo um vídeo compartilhado: somente leitura, até o link expirar.",
  "share.invalid": "Este link é inválido ou expirou.",
  "settings.title": "Configurações",
  "settings.notifications": "Notificações por e-mail",
  "settings.email_on_failure": "Avisar por e-mail quando um vídeo falhar",
  "settings.email_on_completion": "Avisar por e-mail quando um vídeo ficar pronto",
  "settings.webhook_on_completion": "Chamar meus webhooks quando um vídeo ficar pronto (falhas sempre chamam)",
  "settings.save": "Salvar",
  "settings.saved": "Salvo.",
  "settings.webhooks": "Webhooks",
  "settings.webhookUrl": "URL do webhook (https)",
  "settings.webhookAdd": "Adicionar webhook",
  "settings.webhookNone": "Nenhum webhook ainda.",
  "settings.webhookSecret": "Segredo de assinatura (mostrado só agora; copie-o): {secret}",
  "settings.webhookDelete": "Remover",
  "settings.deliveries": "Entregas",
  "settings.deliveriesNone": "Nenhuma entrega ainda.",
  "settings.redeliver": "Reenviar",
  "settings.redeliverBusy": "Ela está sendo enviada agora; tente de novo em instantes.",
  "settings.callbackSecret": "Segredo de assinatura dos callbacks",
  "settings.callbackSecretAbout":
    "Os envios que passam callback_url têm seus callbacks assinados com este segredo (X-Fiapx-Signature), como os webhooks.",
  "settings.callbackSecretSince": "Ativo desde {date}.",
  "settings.callbackSecretNone": "Nenhum ainda: os callbacks falham até você criar um.",
  "settings.callbackSecretCreate": "Criar segredo",
  "settings.callbackSecretReplace": "Substituir segredo",
  "settings.callbackSecretReplaceConfirm":
    "Substituir o segredo de assinatura dos callbacks? O antigo deixa de assinar na hora.",
  "settings.callbackSecretShown": "Segredo de assinatura dos callbacks (mostrado só agora; copie-o): {secret}",
  "settings.callbackDeliveries": "Entregas dos callbacks",
  "settings.loading": "Carregando…",
  "settings.password": "Alterar a senha",
  "settings.passwordCurrent": "Senha atual",
  "settings.passwordNew": "Nova senha",
  "settings.passwordHint": "De 10 a 128 caracteres, não um só caractere repetido, sem o nome do seu endereço de e-mail.",
  "settings.passwordConfirm": "Nova senha de novo",
  "settings.passwordSubmit": "Alterar a senha",
  "settings.passwordMismatch": "A nova senha e a confirmação não são iguais.",
  "settings.passwordChanged": "Senha alterada. Suas outras sessões foram encerradas; esta continua conectada.",
  "settings.passwordWrong": "A senha atual está incorreta.",
  "settings.passwordWeak": "A nova senha foi recusada: {message}",
  "notFound.title": "Página não encontrada",
  "error.generic": "Algo deu errado: {message}",
  "error.network": "Não foi possível falar com o servidor. Verifique sua conexão e tente de novo.",
  "error.invalid_credentials": "E-mail ou senha incorretos.",
  "error.email_taken": "Já existe uma conta com este e-mail.",
  "error.weak_password": "A senha precisa ter pelo menos 10 caracteres.",
  "error.rate_limited": "Muitas requisições ({message}). Aguarde um pouco e tente de novo.",
  "error.rate_limited.wait": "Muitas requisições ({message}). Tente de novo em {wait}.",
  "error.unsupported_media_type": "Este arquivo não é um contêiner de vídeo que conseguimos ler.",
  "error.too_large": "Este arquivo passa do limite de envio.",
  "error.too_slow": "O envio chegou devagar demais e foi interrompido. Tente de novo com uma conexão mais rápida.",
  "error.invalid_spec": "As configurações de extração não são válidas: {message}",
  "error.not_found": "Não encontrado.",
  "error.not_ready": "Os quadros ainda não estão prontos.",
  "error.conflict": "Não é possível no estado atual do vídeo.",
  "error.forbidden": "Não permitido.",
  "error.unavailable": "O serviço está ocupado. Tente de novo em instantes.",
};

export const DICTIONARIES: Record<Locale, Dictionary> = { en, "pt-BR": ptBR };

/** The locale for a browser language list: Portuguese variants get pt-BR, anything else English. */
export function localeFor(languages: readonly string[]): Locale {
  for (const language of languages) {
    const lower = language.toLowerCase();
    if (lower.startsWith("pt")) return "pt-BR";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

/** The saved choice, else the browser's. */
export function initialLocale(storage: Storage = localStorage, nav: Navigator = navigator): Locale {
  const saved = storage.getItem(LOCALE_KEY);
  if (saved === "en" || saved === "pt-BR") return saved;
  return localeFor(nav.languages?.length ? nav.languages : [nav.language]);
}

export function saveLocale(locale: Locale, storage: Storage = localStorage): void {
  storage.setItem(LOCALE_KEY, locale);
}

/** The base of a message that depends on a count: `live.frames` for `live.frames.one`, `live.frames.other`. */
export type PluralKey = MessageKey extends infer K ? (K extends `${infer Base}.other` ? Base : never) : never;

type Values = Record<string, string | number>;

/** A message with its `{placeholders}` filled; a plural message picks its form from `values.count`. */
export interface Translate {
  (key: MessageKey, values?: Values): string;
  (key: PluralKey, values: Values & { count: number }): string;
}

/** Whether `key` is the base of a plural message (it has a `.other` form). */
export function isPluralKey(key: string): key is PluralKey {
  return `${key}.other` in en;
}

/**
 * The key of the form of a plural message for `count` in `locale`: `<base>.<category>` by Intl.PluralRules
 * (en: one, other; pt-BR: one for 0 and 1, other, and many for exact millions), `<base>.other` when the dictionary
 * has no form for that category.
 */
export function pluralForm(locale: Locale, base: PluralKey, count: number): MessageKey {
  const key = `${base}.${pluralRules(locale).select(count)}`;
  return hasMessage(key) ? key : (`${base}.other` as MessageKey);
}

const RULES = new Map<Locale, Intl.PluralRules>();
function pluralRules(locale: Locale): Intl.PluralRules {
  let rules = RULES.get(locale);
  if (!rules) {
    rules = new Intl.PluralRules(locale);
    RULES.set(locale, rules);
  }
  return rules;
}

export function translator(locale: Locale): Translate {
  const dictionary = DICTIONARIES[locale];
  const fill = (text: string, values?: Values) =>
    text.replace(/\{(\w+)\}/g, (whole, name: string) => (values?.[name] !== undefined ? String(values[name]) : whole));
  return ((key: MessageKey | PluralKey, values?: Values) =>
    isPluralKey(key)
      ? fill(dictionary[pluralForm(locale, key, Number(values?.count))], values)
      : fill(dictionary[key], values)) as Translate;
}

/** Whether the dictionary has a message for `key` (for codes coming from the server). */
export function hasMessage(key: string): key is MessageKey {
  return key in en;
}

export interface I18n {
  locale: Locale;
  t: Translate;
  setLocale(locale: Locale): void;
  formatDate(iso: string): string;
  formatBytes(bytes: number): string;
  /** A time in a video, from seconds: `m:ss`, with hundredths when it has a fraction (`0:02.5`, `0:02,5`). */
  formatTime(seconds: number): string;
}

export function makeI18n(locale: Locale, setLocale: (locale: Locale) => void): I18n {
  const dates = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  const numbers = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  const secondsOfMinute = new Intl.NumberFormat(locale, { minimumIntegerDigits: 2, maximumFractionDigits: 2 });
  return {
    locale,
    t: translator(locale),
    setLocale,
    formatDate: (iso) => {
      const date = new Date(iso);
      return Number.isNaN(date.getTime()) ? iso : dates.format(date);
    },
    formatBytes: (bytes) => {
      const units = ["B", "KB", "MB", "GB", "TB"];
      let value = bytes;
      let unit = 0;
      while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit += 1;
      }
      return `${numbers.format(value)} ${units[unit]}`;
    },
    formatTime: (seconds) => {
      // Rounded to hundredths first, so that 59.999 s reads 1:00, not 0:60.
      const total = Math.max(0, Math.round(seconds * 100) / 100);
      const minutes = Math.floor(total / 60);
      return `${minutes}:${secondsOfMinute.format(Math.round((total - minutes * 60) * 100) / 100)}`;
    },
  };
}

export const I18nContext = createContext<I18n>(makeI18n("en", () => undefined));

export function useI18n(): I18n {
  return useContext(I18nContext);
}
