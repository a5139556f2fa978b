// stylecloak web page: choose images and options, queue a job, follow it, show results; jobs survive a reload.
import { $, kept, showError } from "./common.js";
import { addChoices, loadOptions, setupDrop, submit, updateHelp } from "./chooser.js";
import { JobView, restoreJobs } from "./jobs.js";

function started(job, thumbs) {
  kept.add(job.id);
  new JobView(job, thumbs);
}

setupDrop();
addChoices(updateHelp);
$("upload-form").addEventListener("submit", (event) => submit(event, started));
loadOptions()
  .then(restoreJobs)
  .catch((error) => showError(`Cannot reach the server: ${error.message}`));
